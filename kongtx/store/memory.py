"""In-memory backend: DB-less mode and fast tests, same semantics as the SQL ones.

Transactions are serialized by a lock and undone from an undo log on failure,
so a failed multi-row write leaves nothing behind.
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from twisted.internet.defer import DeferredLock
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater

from kongtx.store.backend import EXPIRE_AT, Row, tags_match
from kongtx.store.events import ChangeEvent

T = TypeVar("T")
_ROWS_PER_PAUSE = 1000


class _Table:
    __slots__ = ("ids", "rows", "_indexes")

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.ids: list[str] = []  # sorted, for paging by id
        # field -> value -> ids holding it; built on the first lookup by that field
        self._indexes: dict[str, dict[Any, dict[str, None]]] = {}

    def put(self, row: Row) -> None:
        rid = row["id"]
        old = self.rows.get(rid)
        if old is None:
            bisect.insort(self.ids, rid)
        else:
            self._unindex(old)
        self.rows[rid] = row
        for field, index in self._indexes.items():
            key = _index_key(row.get(field))
            if key is not _UNINDEXED:
                index.setdefault(key, {})[rid] = None

    def pop(self, rid: str) -> Row | None:
        row = self.rows.pop(rid, None)
        if row is not None:
            i = bisect.bisect_left(self.ids, rid)
            del self.ids[i]
            self._unindex(row)
        return row

    def matching(self, field: str, value: Any) -> list[Row] | None:
        """The rows whose ``field`` equals ``value``, by index (one dict probe, no scan);
        None when ``value`` cannot be indexed (a list, a record): scan instead."""
        key = _index_key(value)
        if key is _UNINDEXED:
            return None
        index = self._indexes.get(field)
        if index is None:
            index = self._indexes[field] = {}
            for rid, row in self.rows.items():
                k = _index_key(row.get(field))
                if k is not _UNINDEXED:
                    index.setdefault(k, {})[rid] = None
        return [self.rows[rid] for rid in index.get(key, ())]

    def _unindex(self, row: Row) -> None:
        for field, index in self._indexes.items():
            key = _index_key(row.get(field))
            ids = index.get(key) if key is not _UNINDEXED else None
            if ids is not None:
                ids.pop(row["id"], None)
                if not ids:
                    del index[key]


_UNINDEXED: Any = object()


def _index_key(value: Any) -> Any:
    """What a field value is indexed under: itself, a foreign reference's id, or
    :data:`_UNINDEXED` (lists and records are compared by scanning)."""
    if isinstance(value, dict):
        if len(value) == 1 and "id" in value:
            return ("fk", value["id"])
        return _UNINDEXED
    if isinstance(value, list):
        return _UNINDEXED
    return value


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON-like value (dicts, lists, scalars): rows, several times
    faster than ``copy.deepcopy`` (full snapshot builds read every row)."""
    if isinstance(value, dict):
        return {k: json_copy(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    if isinstance(value, list):
        return [json_copy(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


def build_tables(tables: dict[str, list[Row]]) -> dict[str, _Table]:
    """Tables holding ``tables`` (``{entity: rows}``), ids sorted once (no I/O: thread-safe)."""
    out: dict[str, _Table] = {}
    for name, rows in tables.items():
        t = out[name] = _Table()
        t.rows = {row["id"]: row for row in rows}
        t.ids = sorted(t.rows)
    return out


class MemoryTx:
    """A transaction over :class:`MemoryBackend` tables (see :class:`~kongtx.store.backend.Tx`)."""

    def __init__(self, backend: MemoryBackend, now: float) -> None:
        self._b = backend
        self.now = now
        self.events: list[ChangeEvent] = []
        self.undo: list[tuple[str, str, Row | None]] = []

    def _table(self, entity: Any) -> _Table:
        return self._b.table(entity.name)

    def _live(self, row: Row | None) -> Row | None:
        if row is None:
            return None
        exp = row.get(EXPIRE_AT)
        if exp is not None and exp <= self.now:
            return None
        return json_copy(row)

    async def get(self, entity: Any, id: str) -> Row | None:
        return self._live(self._table(entity).rows.get(id))

    async def find(self, entity: Any, field: str, value: Any) -> Row | None:
        t = self._table(entity)
        found = t.matching(field, value)
        for row in found if found is not None else t.rows.values():
            if row.get(field) == value and self._live(row) is not None:
                return json_copy(row)
        return None

    async def find_all(self, entity: Any, field: str, value: Any) -> list[Row]:
        t = self._table(entity)
        found = t.matching(field, value)
        rows = (
            sorted(found, key=lambda r: r["id"])
            if found is not None
            else [t.rows[rid] for rid in t.ids]
        )
        out = []
        for row in rows:
            if row.get(field) == value and self._live(row) is not None:
                out.append(json_copy(row))
        return out

    async def insert(self, entity: Any, row: Row) -> None:
        t = self._table(entity)
        self.undo.append((entity.name, row["id"], t.rows.get(row["id"])))
        t.put(json_copy(row))

    async def update(self, entity: Any, row: Row) -> None:
        await self.insert(entity, row)

    async def delete(self, entity: Any, id: str) -> None:
        t = self._table(entity)
        old = t.pop(id)
        if old is not None:
            self.undo.append((entity.name, id, old))

    async def upsert_many(self, entity: Any, rows: list[Row]) -> None:
        """Insert or replace (by id) ``rows``; ``created_at`` of existing rows is kept."""
        t = self._table(entity)
        for row in rows:
            old = t.rows.get(row["id"])
            if old is not None and "created_at" in old:
                row = {**row, "created_at": old["created_at"]}
            await self.insert(entity, row)

    async def page(
        self,
        entity: Any,
        size: int,
        after: str | None,
        tags: list[str] | None,
        tags_cond: str,
        filters: dict[str, Any],
    ) -> list[Row]:
        t = self._table(entity)
        start = bisect.bisect_right(t.ids, after) if after is not None else 0
        out: list[Row] = []
        for rid in t.ids[start:]:
            row = t.rows[rid]
            if tags and not tags_match(row.get("tags"), tags, tags_cond):
                continue
            if any(row.get(k) != v for k, v in filters.items()):
                continue
            live = self._live(row)
            if live is None:
                continue
            out.append(live)
            if len(out) >= size:
                break
        return out

    async def all(self, entity: Any) -> list[Row]:
        t = self._table(entity)
        out = []
        clock = self._b.clock
        for i, rid in enumerate(t.ids):
            live = self._live(t.rows[rid])
            if live is not None:
                out.append(live)
            if clock is not None and i % _ROWS_PER_PAUSE == _ROWS_PER_PAUSE - 1:
                # Copying 10,000 rows takes ~75 ms: let the reactor serve in between
                # (a full snapshot build reads every routing row this way).
                await deferLater(clock, 0, lambda: None)
        return out

    async def purge_expired(self, entity: Any) -> None:
        t = self._table(entity)
        dead = [
            rid
            for rid, row in t.rows.items()
            if row.get(EXPIRE_AT) is not None and row[EXPIRE_AT] <= self.now
        ]
        for rid in dead:
            await self.delete(entity, rid)

    def rollback(self) -> None:
        """Undo every write of this transaction, newest first."""
        for name, rid, old in reversed(self.undo):
            t = self._b.table(name)
            t.pop(rid)
            if old is not None:
                t.put(old)
        self.undo.clear()


class MemoryBackend:
    """Dict-of-tables storage with serialized, undoable transactions."""

    name = "memory"

    def __init__(self, clock: IReactorTime | None = None) -> None:
        self._tables: dict[str, _Table] = {}
        self._lock = DeferredLock()
        self.closed = False
        #: When set, reading a whole table gives the reactor back every few hundred rows.
        self.clock = clock

    def table(self, name: str) -> _Table:
        """Return (creating) the table for entity ``name``."""
        t = self._tables.get(name)
        if t is None:
            t = self._tables[name] = _Table()
        return t

    async def transaction(
        self, fn: Callable[[MemoryTx], Awaitable[T]], now: float, write: bool = True
    ) -> T:
        """Run ``fn(tx)``; on any exception every write is undone."""
        await self._lock.acquire()
        tx = MemoryTx(self, now)
        try:
            try:
                result = await fn(tx)
            except BaseException:
                tx.rollback()
                raise
            return result
        finally:
            self._lock.release()

    async def ping(self) -> None:
        """Always reachable."""

    async def close(self) -> None:
        """Nothing to release."""
        self.closed = True

    async def replace_tables(self, fresh: dict[str, _Table]) -> list[dict[str, _Table]]:
        """Swap every table for ``fresh`` (from :func:`build_tables`) at once (DB-less reload).

        Waits for the transaction in progress, if any; readers see the old or
        the new contents, never a mix.

        :returns: the old tables, in a list holding the only reference to them (so the
            caller decides where freeing them costs: :func:`kongtx.heap.release_in_thread`).
        """
        await self._lock.acquire()
        try:
            old = [self._tables]
            self._tables = fresh
        finally:
            self._lock.release()
        return old

    def reset(self) -> None:
        """Drop every row (``migrations reset`` / declarative reload)."""
        self._tables.clear()
