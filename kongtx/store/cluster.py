"""Cluster change events on PostgreSQL: LISTEN for other nodes' writes, poll as a fallback.

Writers record each event in ``cluster_events`` and ``NOTIFY kongtx_events``
in their write transaction (:mod:`kongtx.store.postgres`). Every node keeps one
dedicated connection that LISTENs and fires remote events at once; every
``db_update_frequency`` seconds it also reads recent ``cluster_events`` rows to
catch anything a notification missed. When the listening connection is lost
it reconnects by itself and then fires :data:`FULL_RELOAD`, since events may
have been missed meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from kongtx.errors import KongtxError
from kongtx.store.events import FULL_RELOAD, ChangeEvent, event_from_wire
from kongtx.store.pgpool import PgConnection, PgPool, close_quietly
from kongtx.store.postgres import CHANNEL

_log = Logger()

_CLEANUP_EVERY = 120  # polls between deletions of old cluster_events rows
_KEEP_SECONDS = 3600


class ClusterListener:
    """Deliver other nodes' change events to ``fire``.

    :param pool: the backend's pool (used for polling and to open the LISTEN connection).
    :param node_id: events from this node are ignored (already fired locally).
    :param fire: called with each remote :class:`ChangeEvent` (and FULL_RELOAD).
    :param frequency: polling period in seconds (``db_update_frequency``).
    """

    def __init__(
        self, pool: PgPool, node_id: str, fire: Callable[[ChangeEvent], None], frequency: float
    ) -> None:
        self.pool = pool
        self.reactor = pool.reactor
        self.node_id = node_id
        self.fire = fire
        self.frequency = max(0.05, float(frequency))
        self.margin = self.frequency * 2 + pool.timeout + 1.0
        self._conn: PgConnection | None = None
        self._since: float | None = None
        self._seen: dict[int, float] = {}
        self._loop: LoopingCall | None = None
        self._retry: IDelayedCall | None = None
        self._stopped = False
        self._polls = 0
        self.connected = False

    async def start(self) -> None:
        """Open the LISTEN connection and start polling.

        :raises DatabaseUnavailable: if the first connection fails.
        """
        await self._listen()
        await self._poll_once()
        self._loop = LoopingCall(self._tick)
        self._loop.clock = self.reactor
        self._loop.start(self.frequency, now=False).addErrback(
            lambda f: _log.failure("cluster poll loop stopped", f)
        )

    def stop(self) -> None:
        """Stop polling and close the LISTEN connection."""
        self._stopped = True
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.on_lost = None
            close_quietly(conn)

    # -- LISTEN ---------------------------------------------------------------
    async def _listen(self) -> None:
        conn = await self.pool.connect()
        try:
            await self.pool.timed(conn.runOperation(f"LISTEN {CHANNEL}"), "LISTEN", conn)
        except KongtxError:
            raise
        except Exception as exc:
            close_quietly(conn)
            raise self.pool.unavailable(str(exc).strip()) from exc
        conn.addNotifyObserver(self._on_notify)
        conn.on_lost = self._on_lost
        self._conn = conn
        self.connected = True

    def _on_lost(self, conn: PgConnection) -> None:
        if conn is not self._conn or self._stopped:
            return
        self._conn = None
        self.connected = False
        _log.warn("lost the cluster events connection to PostgreSQL; reconnecting")
        self._schedule_reconnect(0.0)

    def _schedule_reconnect(self, delay: float) -> None:
        if self._stopped or (self._retry is not None and self._retry.active()):
            return
        self._retry = self.reactor.callLater(delay, self._reconnect)

    def _reconnect(self) -> None:
        self._retry = None
        if self._stopped or self._conn is not None:
            return
        d = Deferred.fromCoroutine(self._reconnect_async())
        d.addErrback(lambda f: _log.failure("cluster reconnect failed", f))

    async def _reconnect_async(self) -> None:
        try:
            await self._listen()
        except KongtxError:
            self._schedule_reconnect(min(1.0, self.frequency))
            return
        if self._stopped:
            self.stop()
            return
        _log.info("cluster events connection restored; full reload")
        self._since = None  # restart the poll window from the server's clock
        self.fire(FULL_RELOAD)

    def _on_notify(self, notify: Any) -> None:
        if notify.channel != CHANNEL:
            return
        try:
            msg = json.loads(notify.payload)
        except ValueError:
            return
        if msg.get("poll"):
            self._tick()
            return
        remote = msg.get("n") != self.node_id
        for item in msg.get("ev", ()):
            cid = item[0]
            if cid in self._seen:
                continue
            self._seen[cid] = self._since or 0.0
            if remote:
                self.fire(event_from_wire(item[1:]))

    # -- polling ---------------------------------------------------------------
    def _tick(self) -> Deferred[None]:
        if self._conn is None and not (self._retry is not None and self._retry.active()):
            self._schedule_reconnect(0.0)
        d = Deferred.fromCoroutine(self._poll_once())
        d.addErrback(lambda f: _log.debug("cluster poll failed: {f}", f=f.getErrorMessage()))
        return d

    async def _poll_once(self) -> None:
        since = self._since

        async def body(conn: PgConnection) -> tuple[float, list[tuple[Any, ...]]]:
            now_rows = await self.pool.execute(conn, "SELECT extract(epoch from clock_timestamp())")
            if since is None:
                return float(now_rows[0][0]), []
            rows = await self.pool.execute(
                conn,
                "SELECT id, node_id, entity, op, entity_id FROM cluster_events"
                " WHERE at > to_timestamp(%s) ORDER BY id",
                [since - self.margin],
            )
            return float(now_rows[0][0]), rows

        now, rows = await self.pool.run(body)
        for cid, node, entity, op, eid in rows:
            if cid in self._seen:
                continue
            self._seen[cid] = now
            if node != self.node_id:
                self.fire(ChangeEvent(entity, op, eid))
        self._since = now
        cutoff = now - 2 * self.margin
        if self._seen:
            self._seen = {k: v for k, v in self._seen.items() if v >= cutoff}
        self._polls += 1
        if self._polls % _CLEANUP_EVERY == 0:
            await self._cleanup()

    async def _cleanup(self) -> None:
        async def body(conn: PgConnection) -> None:
            await self.pool.execute(
                conn,
                f"DELETE FROM cluster_events WHERE at < now() - interval '{_KEEP_SECONDS} seconds'",
            )

        await self.pool.run(body)
