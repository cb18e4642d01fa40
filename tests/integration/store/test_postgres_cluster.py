"""PostgreSQL-only behaviour: cluster events between nodes, outages and recovery."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred

from kongtx.errors import DatabaseUnavailable
from kongtx.store import DAO, open_store
from kongtx.store.events import FULL_RELOAD, ChangeEvent
from kongtx.store.migrations import MigrationsNeeded
from kongtx.store.snapshot_manager import SnapshotManager
from tests.integration.store.conftest import pg_settings, test_registry
from tests.integration.store.forwarder import Forwarder
from tests.pg import PgDatabase, create_database, drop_database


@pytest.fixture
def fresh_db() -> Any:
    """An empty database per test."""
    db = create_database("kongtx_cluster")
    yield db
    drop_database(db)


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def waiter(timeout: float, match: Any) -> tuple[Deferred[Any], Any]:
    """A Deferred fired by the first event satisfying ``match`` (or failing after ``timeout``)."""
    d: Deferred[Any] = Deferred()

    def listener(value: Any) -> None:
        if not d.called and match(value):
            d.callback(value)

    d.addTimeout(timeout, _reactor())
    return d, listener


@pytest_twisted.async_yield_fixture
async def closing() -> AsyncIterator[list[Any]]:
    """Collect DAOs/forwarders and close them at teardown."""
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        if isinstance(thing, Forwarder):
            await thing.stop()
        else:
            await thing.close()


@pytest_twisted.ensureDeferred
async def test_postgres_requires_bootstrap(fresh_db: PgDatabase, closing: list[Any]) -> None:
    """An empty database is refused with the bootstrap hint unless auto_migrate is set."""
    reg = test_registry()
    with pytest.raises(MigrationsNeeded) as info:
        await open_store(pg_settings(fresh_db), _reactor(), registry=reg)
    assert info.value.message == "Database needs bootstrapping; run 'kongtx migrations bootstrap'"
    dao = await open_store(pg_settings(fresh_db), _reactor(), registry=reg, auto_migrate=True)
    closing.append(dao)
    await dao.insert("services", {"host": "a"})


async def _two_nodes(settings: Any, closing: list[Any]) -> tuple[DAO, DAO]:
    """Node A's store (migrating the database) and node B's, on ``settings``' database."""
    reactor = _reactor()
    a = await open_store(settings, reactor, registry=test_registry(), auto_migrate=True)
    closing.append(a)
    b = await open_store(settings, reactor, registry=test_registry())
    closing.append(b)
    return a, b


@pytest_twisted.ensureDeferred
async def test_write_on_a_reaches_b_within_a_second(
    fresh_db: PgDatabase, closing: list[Any]
) -> None:
    """Two nodes: B's listener and SnapshotManager see A's write through NOTIFY in < 1 s."""
    reactor = _reactor()
    # polling every 30 s: only NOTIFY can be fast enough
    settings = pg_settings(fresh_db, db_update_frequency=30.0)
    a, b = await _two_nodes(settings, closing)
    events: list[ChangeEvent] = []
    b.add_change_listener(events.append)
    manager: SnapshotManager[Any] = SnapshotManager(b, lambda rows: rows, reactor)
    await manager.start()
    closing.append(_Stopper(manager))
    assert manager.current["services"] == []
    swapped, on_swap = waiter(1.0, lambda snap: len(snap["services"]) == 1)
    manager.add_swap_listener(on_swap)
    started = reactor.seconds()
    row = await a.insert("services", {"name": "s1", "host": "a"})
    snap = await swapped
    assert reactor.seconds() - started < 1.0
    assert snap["services"][0]["id"] == row["id"]
    assert ChangeEvent("services", "create", row["id"]) in events


@pytest_twisted.ensureDeferred
async def test_polling_catches_events_without_notify(
    fresh_db: PgDatabase, closing: list[Any]
) -> None:
    """An event row written without NOTIFY is picked up by B's poller."""
    settings = pg_settings(fresh_db, db_update_frequency=0.2)
    a, b = await _two_nodes(settings, closing)
    got, listener = waiter(3.0, lambda ev: ev.entity == "consumers")
    b.add_change_listener(listener)
    a.backend.publish_events = False  # write the event row by hand, no NOTIFY

    async def body(conn: Any) -> None:
        await a.backend.pool.execute(
            conn,
            "INSERT INTO cluster_events (node_id, entity, op, entity_id) VALUES (%s, %s, %s, %s)",
            ["other-node", "consumers", "update", "c1"],
        )

    await a.backend.pool.run(body)
    assert await got == ChangeEvent("consumers", "update", "c1")


@pytest_twisted.ensureDeferred
async def test_outage_fails_fast_and_recovers(fresh_db: PgDatabase, closing: list[Any]) -> None:
    """Cut: calls fail fast with DatabaseUnavailable; restored: calls work and a full reload fires."""
    reactor = _reactor()
    fw = Forwarder(reactor, fresh_db.host, fresh_db.port)
    port = await fw.start()
    closing.append(fw)
    settings = pg_settings(
        fresh_db, pg_host="127.0.0.1", pg_port=port, pg_timeout=1000, db_update_frequency=0.2
    )
    dao = await open_store(settings, reactor, registry=test_registry(), auto_migrate=True)
    closing.append(dao)
    s = await dao.insert("services", {"name": "s1", "host": "a"})
    reload_seen, listener = waiter(10.0, lambda ev: ev == FULL_RELOAD)
    dao.add_change_listener(listener)

    fw.cut()
    for call in (
        dao.select("services", s["id"]),
        dao.insert("services", {"host": "b"}),
        dao.ping(),
    ):
        started = reactor.seconds()
        with pytest.raises(DatabaseUnavailable) as info:
            await call
        assert reactor.seconds() - started < 1.5
        assert "database unavailable" in info.value.message
    assert info.value.http_status == 503

    fw.restore()
    assert (await dao.select("services", s["id"]))["name"] == "s1"
    await dao.insert("services", {"host": "c"})
    assert await reload_seen == FULL_RELOAD


@pytest_twisted.ensureDeferred
async def test_hung_server_times_out(fresh_db: PgDatabase, closing: list[Any]) -> None:
    """A server that stops answering makes calls fail within pg_timeout, never hang."""
    reactor = _reactor()
    fw = Forwarder(reactor, fresh_db.host, fresh_db.port)
    port = await fw.start()
    closing.append(fw)
    settings = pg_settings(
        fresh_db, pg_host="127.0.0.1", pg_port=port, pg_timeout=500, db_update_frequency=30.0
    )
    dao = await open_store(settings, reactor, registry=test_registry(), auto_migrate=True)
    closing.append(dao)
    await dao.insert("services", {"host": "a"})
    fw.blackhole()
    started = reactor.seconds()
    with pytest.raises(DatabaseUnavailable):
        await dao.page("services")
    assert 0.4 <= reactor.seconds() - started < 1.5
    fw.cut()  # drop the frozen connections
    fw.restore()
    assert len((await dao.page("services")).rows) == 1


@dataclasses.dataclass
class _Stopper:
    manager: SnapshotManager[Any]

    async def close(self) -> None:
        self.manager.stop()
