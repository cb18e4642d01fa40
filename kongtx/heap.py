"""The cyclic garbage collector kept out of the way while a whole configuration is replaced.

Replacing a DB-less configuration (10,000 routes and 100,000 consumers) allocates
millions of objects; each time the collector's thresholds trip it walks every tracked
object, holding the GIL (measured: eight full passes of 110-320 ms each, 2 s in all,
during one ``POST /config``, which stalled every proxied request that long whichever
thread allocated). :func:`collection_paused` turns automatic collection off for the
replacement and back on after it. A process that froze its heap once started
(:func:`kongtx.service.freeze_gc_when_ready`: twistd, worker processes) freezes it again,
so the new configuration joins the permanent generation like the first one did; the
cyclic garbage of a replacement that this keeps is small (measured: about 110 objects
per reload). Only a block that replaced the configuration freezes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger

_log = Logger()

__all__ = ["Pause", "collection_paused", "release_in_thread"]

_depth = 0
_was_enabled = False
_replaced = False


class Pause:
    """What :func:`collection_paused` yields: call :meth:`replaced` once the new
    configuration is in place."""

    def replaced(self) -> None:
        """The configuration was replaced: freeze it with the heap (if the process froze
        its heap at start). A block that never calls this (invalid input) freezes nothing,
        so its garbage (tracebacks: cycles) stays collectable."""
        global _replaced
        _replaced = True


@contextmanager
def collection_paused() -> Iterator[Pause]:
    """No automatic cyclic collection inside the block (blocks may nest and overlap
    across coroutines: collection resumes when the last one ends)."""
    global _depth, _was_enabled, _replaced
    if _depth == 0:
        _was_enabled = gc.isenabled()
        _replaced = False
        gc.disable()
    _depth += 1
    try:
        yield Pause()
    finally:
        _depth -= 1
        if _depth == 0 and _was_enabled:
            # CPython only: PyPy's collector has no permanent generation (no gc.freeze).
            freeze_count = getattr(gc, "get_freeze_count", None)
            if _replaced and freeze_count is not None and freeze_count() > 0:
                gc.freeze()
            gc.enable()


def release_in_thread(reactor: Any, holder: list[Any]) -> Deferred[None]:
    """Drop the objects in ``holder`` (its only references) in the reactor's thread pool.

    Freeing a replaced configuration (100,000 consumer rows, a 10,000-route router) one
    object at a time takes 50-90 ms; in a thread the reactor keeps its turn every GIL
    switch interval instead. The caller must keep no other reference.
    """
    get_pool = getattr(reactor, "getThreadPool", None)
    if get_pool is None:  # a reactor without threads (tests): free them here
        holder.clear()
        return succeed(None)
    d: Deferred[None] = deferToThreadPool(reactor, get_pool(), holder.clear)
    d.addErrback(lambda f: _log.failure("releasing a replaced configuration failed", f))
    return d
