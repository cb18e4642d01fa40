"""DB-less mode (``database = off``): the in-memory store holds one declarative configuration.

:class:`DeclarativeState` loads ``declarative_config`` / ``declarative_config_string``
at start (and on ``kongtx reload``) and replaces the whole configuration on
``POST /config``. Parsing, validation and building the new tables run in a
thread, off the reactor; the swap is one assignment under the store's lock,
then one full snapshot rebuild, sliced on the reactor (the previous configuration
answers until it is done). Automatic garbage collection is paused meanwhile
(:mod:`kongtx.heap`). With worker processes the parent writes the
configuration to ``<prefix>/dbless.json`` (its hash in ``dbless.hash``) and
the change event it forwards makes each child load that file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger

from kongtx.declarative._export import export_document
from kongtx.declarative._parse import Parsed, parse_document, parse_text
from kongtx.declarative._text import json_chunks
from kongtx.declarative.load import memory_tables, storable_rows, transformed
from kongtx.errors import ConfigError
from kongtx.heap import collection_paused, release_in_thread
from kongtx.store.events import FULL_RELOAD, ChangeEvent

__all__ = ["EMPTY_HASH", "DeclarativeState", "persisted_path"]

log = Logger()

#: Kong's configuration hash before anything was loaded.
EMPTY_HASH = "0" * 32


def persisted_path(prefix: str) -> str:
    """Where the parent leaves the current configuration for its worker processes."""
    return os.path.join(prefix, "dbless.json")


def _hash_path(prefix: str) -> str:
    return os.path.join(prefix, "dbless.hash")


def _write_atomically(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


class DeclarativeState:
    """The declarative configuration a DB-less node serves.

    :param dao: the DAO over a :class:`~kongtx.store.memory.MemoryBackend`.
    :param reactor: the reactor (time, thread pool).
    :param config: the node's Config (``prefix``, ``declarative_config*``, workers).
    :param worker_index: 0 in the parent, ``n`` in worker process ``n`` (which
        follows the parent's persisted configuration).
    """

    def __init__(self, dao: Any, reactor: Any, config: Any, *, worker_index: int = 0) -> None:
        self.dao = dao
        self.reactor = reactor
        self.config = config
        self.registry = dao.registry
        self.hash = EMPTY_HASH
        self.worker_index = worker_index
        self._persist = worker_index == 0 and config.worker_count() > 1
        self._snapshots: Any = None
        self._waiters: list[tuple[int, Deferred[None]]] = []
        self._following = False
        dao.read_only = True
        if worker_index > 0:
            dao.add_change_listener(self._on_change)

    def follow_snapshots(self, snapshots: Any) -> None:
        """Answer :meth:`apply` once ``snapshots`` (the node's SnapshotManager) serves the change."""
        self._snapshots = snapshots
        snapshots.add_swap_listener(self._swapped)

    # -- loading ---------------------------------------------------------------
    def in_thread(self, fn: Callable[[], Any]) -> Deferred[Any]:
        """Run ``fn()`` in the reactor's thread pool (CPU work kept off the reactor)."""
        return self._in_thread(fn)

    def _in_thread(self, fn: Callable[[], Any]) -> Deferred[Any]:
        return deferToThreadPool(self.reactor, self.reactor.getThreadPool(), fn)

    async def parse(self, source: str | bytes | dict[str, Any]) -> Parsed:
        """Validate ``source`` (text or a decoded document) in a thread.

        :raises InvalidDeclarativeConfig: Kong's code-14 error.
        """
        now = self.reactor.seconds()
        if isinstance(source, dict):
            return await self._in_thread(lambda: parse_document(source, self.registry, now))
        return await self._in_thread(lambda: parse_text(source, self.registry, now))

    async def apply(self, parsed: Parsed) -> dict[str, list[dict[str, Any]]]:
        """Serve ``parsed`` instead of the current configuration (all at once).

        :returns: the rows now served (transformations applied), by entity.
        """
        entities = await transformed(parsed, self.registry, self.reactor)
        now = self.reactor.seconds()
        rows = await self._in_thread(lambda: storable_rows(entities, self.registry, now))
        tables = await self._in_thread(lambda: memory_tables(rows))
        if self._persist:
            await self._in_thread(lambda: self._write(parsed))
        target = self._target_version()
        release_in_thread(self.reactor, await self.dao.backend.replace_tables(tables))
        self.hash = parsed.hash
        self.dao.fire(FULL_RELOAD)
        await self._settled(target)
        return rows

    async def load_configured(self, config: Any = None) -> bool:
        """Load the configuration's ``declarative_config_string`` or ``declarative_config``.

        :returns: whether there was one to load.
        :raises ConfigError: unreadable file; InvalidDeclarativeConfig: invalid one.
        """
        config = config or self.config
        if self.worker_index > 0:
            return await self._follow()
        text: str | bytes | None = config.declarative_config_string or None
        if text is None and config.declarative_config:
            path = config.declarative_config
            try:
                text = await self._in_thread(lambda: _read(path))
            except OSError as exc:
                raise ConfigError(
                    f"declarative_config: could not read {path}: {exc.strerror}"
                ) from None
        if text is None:
            if self._persist:
                await self._in_thread(lambda: self._write(None))
            return False
        await self.apply(await self.parse(text))
        return True

    # -- worker processes -------------------------------------------------------
    def _write(self, parsed: Parsed | None) -> None:
        prefix = self.config.prefix
        os.makedirs(prefix, exist_ok=True)
        rows = parsed.entities if parsed is not None else {}
        document = export_document(rows, self.registry)
        _write_atomically(persisted_path(prefix), "".join(json_chunks(document)))
        _write_atomically(_hash_path(prefix), parsed.hash if parsed is not None else EMPTY_HASH)

    async def _follow(self) -> bool:
        """A worker process: load what the parent persisted, if it changed."""
        prefix = self.config.prefix
        try:
            wanted = await self._in_thread(lambda: _read(_hash_path(prefix)))
        except OSError:
            return False
        if isinstance(wanted, bytes):
            wanted = wanted.decode("ascii", "replace")
        if wanted.strip() == self.hash:
            return True
        with collection_paused() as pause:
            text = await self._in_thread(lambda: _read(persisted_path(prefix)))
            parsed = await self.parse(text)
            parsed.hash = wanted.strip()
            await self.apply(parsed)
            pause.replaced()
        return True

    def _on_change(self, event: ChangeEvent) -> None:
        if not event.is_reload or self._following:
            return
        self._following = True

        async def follow() -> None:
            try:
                await self._follow()
            finally:
                self._following = False

        Deferred.fromCoroutine(follow()).addErrback(
            lambda f: log.failure("worker could not load the new declarative configuration", f)
        )

    # -- waiting for the snapshot -----------------------------------------------
    def _target_version(self) -> int:
        snapshots = self._snapshots
        if snapshots is None:
            return 0
        return int(snapshots.version) + (2 if snapshots.busy else 1)

    def _swapped(self, _snapshot: Any) -> None:
        version = self._snapshots.version
        ready = [d for target, d in self._waiters if version >= target]
        self._waiters = [(t, d) for t, d in self._waiters if version < t]
        for d in ready:
            d.callback(None)

    async def _settled(self, target: int, timeout: float = 30.0) -> None:
        if self._snapshots is None or self._snapshots.version >= target:
            return
        d: Deferred[None] = Deferred()
        self._waiters.append((target, d))
        d.addTimeout(timeout, self.reactor, onTimeoutCancel=lambda *_: None)
        await d


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()
