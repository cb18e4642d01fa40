"""The ``cluster`` policy: counters in the configured database (PostgreSQL or SQLite).

A request is one transaction with one conditional upsert per counter::

    INSERT INTO ratelimiting_metrics (...) VALUES (..., cost, ...)
    ON CONFLICT (identifier, period, period_date, service_id, route_id)
    DO UPDATE SET value = ratelimiting_metrics.value + excluded.value
    WHERE <the step is allowed for this counter>
    RETURNING value

The row lock the upsert takes makes concurrent requests on the same counter
wait for each other, so the check and the increment are one step across every
node sharing the database. A counter that refuses (no row returned) rolls the
transaction back: no counter of that request moves. Counters are always
upserted in the same order (their periods, shortest first), so two requests
never wait on each other's locks in opposite orders.

Rows keep the window's end in ``ttl``; ended windows are deleted now and then.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kongtx.errors import KongtxError
from kongtx.ratelimit.counters import CounterUnavailable, Hit, Outcome, refuses
from kongtx.store.migrations import Migration

__all__ = ["SqlCounters", "metrics_migration"]

log = Logger()

CLEANUP_EVERY = 60.0  # seconds between deletions of ended windows
_KEY = "identifier, period, period_date, service_id, route_id"


def metrics_migration(name: str, table: str) -> Migration:
    """The named migration creating a counters table (Kong's ``ratelimiting_metrics`` shape)."""

    def up(dialect: Any) -> list[str]:
        text, integer = dialect.types["text"], dialect.types["int"]
        return [
            f'CREATE TABLE IF NOT EXISTS "{table}" ('
            f"identifier {text} NOT NULL, period {text} NOT NULL, period_date {integer} NOT NULL, "
            f"service_id {text} NOT NULL, route_id {text} NOT NULL, "
            f"value {integer} NOT NULL DEFAULT 0, ttl {integer} NOT NULL, "
            f"PRIMARY KEY ({_KEY}))",
            f'CREATE INDEX IF NOT EXISTS "{table}_ttl_idx" ON "{table}" (ttl)',
        ]

    return Migration(name, up, tables=(table,))


class _Refused(Exception):
    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


class SqlCounters:
    """Counters in the node's database.

    :param backend: the DAO's backend (``transaction``, ``schema.dialect``).
    :param clock: ``IReactorTime``.
    """

    def __init__(self, backend: Any, clock: Any) -> None:
        self.backend = backend
        self.clock = clock
        self._p = backend.schema.dialect.param
        self._next_cleanup = 0.0

    def hit(self, hits: Sequence[Hit], strict: bool) -> Deferred[Outcome]:
        """Apply ``hits`` in one transaction; a Deferred of the :class:`Outcome`."""
        return Deferred.fromCoroutine(self._hit(hits, strict))

    async def _hit(self, hits: Sequence[Hit], strict: bool) -> Outcome:
        now = self.clock.seconds()
        if now >= self._next_cleanup:
            # Off the request's path: the cleanup logs its own errors.
            self._next_cleanup = now + CLEANUP_EVERY
            Deferred.fromCoroutine(self._cleanup(hits, now))
        try:
            values = await self.backend.transaction(lambda tx: self._apply(tx, hits, strict), now)
        except _Refused as refused:
            current = await self._read(hits, now)
            return Outcome(refused.index, current)
        except KongtxError as exc:
            raise CounterUnavailable(f"database: {exc.message}") from exc
        return Outcome(-1, values)

    async def _apply(self, tx: Any, hits: Sequence[Hit], strict: bool) -> tuple[int, ...]:
        p = self._p
        values = []
        for index, hit in enumerate(hits):
            if hit.cost == 0 or (strict and hit.cost > hit.limit):
                rows = await tx.execute(self._select_sql(hit), self._key(hit))
                value = rows[0][0] if rows else 0
                if refuses(value, hit, strict):
                    raise _Refused(index)
                values.append(int(value))
                continue
            t = f'"{hit.table}"'
            allowed = f"{t}.value + excluded.value <= {p}" if strict else f"{t}.value < {p}"
            sql = (
                f"INSERT INTO {t} ({_KEY}, value, ttl) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) "
                f"ON CONFLICT ({_KEY}) DO UPDATE SET value = {t}.value + excluded.value "
                f"WHERE {allowed} RETURNING value"
            )
            rows = await tx.execute(sql, [*self._key(hit), hit.cost, hit.expires, hit.limit])
            if not rows:
                raise _Refused(index)
            values.append(int(rows[0][0]))
        return tuple(values)

    def _select_sql(self, hit: Hit) -> str:
        p = self._p
        return (
            f'SELECT value FROM "{hit.table}" WHERE identifier = {p} AND period = {p} '
            f"AND period_date = {p} AND service_id = {p} AND route_id = {p}"
        )

    @staticmethod
    def _key(hit: Hit) -> list[Any]:
        return [hit.identifier, hit.period, hit.start, hit.service_id, hit.route_id]

    async def _read(self, hits: Sequence[Hit], now: float) -> tuple[int, ...]:
        async def read(tx: Any) -> tuple[int, ...]:
            values = []
            for hit in hits:
                rows = await tx.execute(self._select_sql(hit), self._key(hit))
                values.append(int(rows[0][0]) if rows else 0)
            return tuple(values)

        try:
            result: tuple[int, ...] = await self.backend.transaction(read, now, write=False)
        except KongtxError as exc:
            raise CounterUnavailable(f"database: {exc.message}") from exc
        return result

    async def _cleanup(self, hits: Sequence[Hit], now: float) -> None:
        """Delete the ended windows of the tables ``hits`` use (errors only logged)."""
        for table in {hit.table for hit in hits}:

            async def delete(tx: Any, table: str = table) -> None:
                await tx.execute(f'DELETE FROM "{table}" WHERE ttl <= {self._p}', [int(now)])

            try:
                await self.backend.transaction(delete, now)
            except KongtxError as exc:
                log.info("rate-limiting: cannot delete ended windows: {err}", err=exc.message)
