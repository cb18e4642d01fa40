"""Appending to a log file from a thread; reopened on demand (log rotation).

Writes run in the reactor's thread pool, one batch at a time (the queue's
concurrency is 1), so the reactor never waits on the disk. The file is opened
in append mode and created with mode 0644, as Kong's file-log. ``reopen``
closes and reopens it for every batch (Kong's ``reopen`` option); otherwise
:func:`kongtx.logsinks.reopen.reopen_all` (SIGUSR1) makes the next batch
reopen it, so a rotated file is let go.
"""

from __future__ import annotations

import os
import threading
from typing import IO, Any, Callable

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool

from kongtx.logsinks import reopen

__all__ = ["FileWriter", "in_thread_pool"]

Runner = Callable[..., Deferred[Any]]


def in_thread_pool(reactor: Any) -> Runner:
    """Run a function in ``reactor``'s thread pool, returning a Deferred."""

    def run(func: Callable[..., Any], *args: Any) -> Deferred[Any]:
        return deferToThreadPool(reactor, reactor.getThreadPool(), func, *args)

    return run


class FileWriter:
    """Appends batches of lines to ``path``.

    :param path: the file (created 0644 if missing).
    :param run: runs a blocking function off the reactor (:func:`in_thread_pool`).
    :param reopen_each_batch: Kong's ``reopen``: close and reopen for every batch.
    """

    def __init__(self, path: str, run: Runner, reopen_each_batch: bool = False) -> None:
        self.path = path
        self._run = run
        self._reopen_each = reopen_each_batch
        self._file: IO[bytes] | None = None
        self._reopen = False
        self._lock = threading.Lock()
        reopen.register(self)

    def request_reopen(self) -> None:
        """Reopen the file before the next write (called on SIGUSR1)."""
        self._reopen = True

    def send(self, lines: list[bytes]) -> Deferred[None]:
        """Append ``lines``; fires once they were written (and flushed) in the thread."""
        return self._run(self._write, b"".join(lines))

    def _write(self, data: bytes) -> None:
        with self._lock:
            fh = self._file
            if fh is None or self._reopen or self._reopen_each:
                self._reopen = False
                if fh is not None:
                    fh.close()
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                fh = self._file = os.fdopen(fd, "ab")
            try:
                fh.write(data)
                fh.flush()
            finally:
                if self._reopen_each:
                    fh.close()
                    self._file = None

    def close(self) -> Deferred[None]:
        """Close the file (in the thread, after pending writes)."""
        reopen.unregister(self)
        return self._run(self._close)

    def _close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
