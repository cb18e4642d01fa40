"""PostgreSQL backend over txpostgres, with bounded calls and cluster events.

Every call fails with :class:`DatabaseUnavailable` within ``pg_timeout`` when
the server cannot be reached, and works again by itself once it is back (see
:mod:`kongtx.store.pgpool`). A write transaction that produced change events
also records them in ``cluster_events`` and ``NOTIFY``-es the other nodes, as
part of the same commit.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from twisted.logger import Logger

from kongtx.errors import DatabaseError, KongtxError
from kongtx.store.events import ChangeEvent, event_to_wire
from kongtx.store.pgdriver import psycopg2
from kongtx.store.pgpool import (
    PgConnection,
    PgPool,
    PgSettings,
    connect_kwargs,
    is_unavailable,
)
from kongtx.store.sql import POSTGRES, SqlSchema, SqlTx

T = TypeVar("T")
_log = Logger()

CHANNEL = "kongtx_events"
_MAX_PAYLOAD = 7000  # NOTIFY payloads must stay under 8000 bytes
#: connections (concurrent transactions) when ``pg_max_concurrent_queries`` is 0 (no explicit limit)
DEFAULT_POOL_SIZE = 4


def _dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))


class PostgresBackend:
    """PostgreSQL storage.

    :param settings: object with ``pg_*`` attributes (a Config).
    :param reactor: the reactor (time + fd watching).
    :param node_id: this node's id, stamped on the cluster events it writes.
    """

    name = "postgres"

    def __init__(
        self,
        settings: PgSettings,
        reactor: Any,
        node_id: str,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        self.settings = settings
        self.reactor = reactor
        self.node_id = node_id
        self.timeout = settings.pg_timeout / 1000.0
        limit = settings.pg_max_concurrent_queries
        semaphore_timeout = None
        if limit > 0:  # Kong: at most this many queries at once, waiting pg_semaphore_timeout
            pool_size = limit
            semaphore_timeout = settings.pg_semaphore_timeout / 1000.0
        self.pool = PgPool(
            reactor,
            connect_kwargs(settings),
            size=pool_size,
            timeout=self.timeout,
            semaphore_timeout=semaphore_timeout,
        )
        self.schema = SqlSchema(POSTGRES)
        self.publish_events = True

    async def transaction(
        self, fn: Callable[[SqlTx], Awaitable[T]], now: float, write: bool = True
    ) -> T:
        """Run ``fn(tx)`` in one transaction on a pooled connection."""

        async def body(conn: PgConnection) -> T:
            async def execute(sql: str, params: Any = None) -> list[tuple[Any, ...]]:
                return await self.pool.execute(conn, sql, params)

            # REPEATABLE READ gives multi-statement reads (load_all) one snapshot.
            await execute("BEGIN" if write else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            tx = SqlTx(self.schema, execute, now)
            try:
                result = await fn(tx)
                if tx.events and self.publish_events:
                    await self._publish(execute, tx.events)
                await execute("COMMIT")
            except BaseException:
                if conn.alive:
                    try:
                        await execute("ROLLBACK")
                    except (KongtxError, psycopg2.Error):
                        # the original error matters more; a dead connection is dropped by the pool
                        _log.debug("rollback failed")
                raise
            return result

        try:
            return await self.pool.run(body)
        except KongtxError:
            raise
        except psycopg2.Error as exc:
            if is_unavailable(exc):
                raise self.pool.unavailable(str(exc).strip()) from exc
            raise DatabaseError(f"postgres error: {str(exc).strip()}") from exc

    async def _publish(
        self, execute: Callable[..., Awaitable[list[tuple[Any, ...]]]], events: list[ChangeEvent]
    ) -> None:
        items = []
        for ev in events:
            rows = await execute(
                "INSERT INTO cluster_events (node_id, entity, op, entity_id) VALUES (%s, %s, %s, %s) RETURNING id",
                [self.node_id, ev.entity, ev.op, ev.id],
            )
            items.append([rows[0][0], *event_to_wire(ev, _MAX_PAYLOAD // 2)])
        payload = _dumps({"n": self.node_id, "ev": items})
        if len(payload) > _MAX_PAYLOAD:
            # without the rows (the other nodes read what they need by id)
            payload = _dumps({"n": self.node_id, "ev": [item[:4] for item in items]})
        if len(payload) > _MAX_PAYLOAD:
            # too many to carry: tell listeners to read the table now
            payload = json.dumps({"n": self.node_id, "poll": 1})
        await execute("SELECT pg_notify(%s, %s)", [CHANNEL, payload])

    async def ping(self) -> None:
        """Run ``SELECT 1`` (raises DatabaseUnavailable when down)."""

        async def body(conn: PgConnection) -> None:
            await self.pool.execute(conn, "SELECT 1")

        await self.pool.run(body)

    async def close(self) -> None:
        """Close every connection."""
        self.pool.close()
