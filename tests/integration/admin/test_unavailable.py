"""A database that goes away makes the Admin API answer 503, never hang."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_twisted

from tests.integration.admin.conftest import AdminClient, make_config
from tests.pg import PgDatabase, create_database, drop_database


@pytest.fixture
def pg_db() -> Iterator[PgDatabase]:
    """A throw-away PostgreSQL database."""
    db = create_database("kongtx_admin_cut")
    try:
        yield db
    finally:
        drop_database(db)


def _cuttable_forwarder(reactor: Any, host: str, port: int) -> tuple[Any, list[Any]]:
    """A TCP forwarder to PostgreSQL whose connections the test can cut."""
    from twisted.protocols.portforward import ProxyFactory, ProxyServer

    live: list[Any] = []

    class Tracked(ProxyServer):
        def connectionMade(self) -> None:
            live.append(self)
            super().connectionMade()

    factory = ProxyFactory(host, port)
    factory.protocol = Tracked
    listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
    return listening, live


@pytest_twisted.ensureDeferred
async def test_database_cut_answers_503(pg_db: PgDatabase) -> None:
    """After the database link is cut, CRUD answers 503 JSON and /status reports unreachable."""
    from twisted.internet import reactor
    from twisted.web.server import Site

    from kongtx.admin import AdminAPI
    from kongtx.store import open_store

    forwarder, live = _cuttable_forwarder(reactor, pg_db.host, pg_db.port)
    overrides = {
        "database": "postgres",
        "pg_host": "127.0.0.1",
        "pg_port": str(forwarder.getHost().port),
        "pg_user": pg_db.user,
        "pg_database": pg_db.name,
        "pg_timeout": "1000",
    }
    if pg_db.password:
        overrides["pg_password"] = pg_db.password
    config = make_config(overrides)
    dao = await open_store(config, reactor, auto_migrate=True)
    api = AdminAPI(dao, config, node_id=str(uuid.uuid4()), clock=reactor)
    port = reactor.listenTCP(0, Site(api.resource()), interface="127.0.0.1")
    client = AdminClient(f"http://127.0.0.1:{port.getHost().port}", api, dao)
    try:
        assert (
            await client.post("/services", json_body={"name": "before", "host": "b.example"})
        ).status == 201
        await forwarder.stopListening()
        for proto in live:
            proto.transport.abortConnection()
        started = reactor.seconds()
        r = await client.get("/services")
        assert r.status == 503
        assert r.header("content-type") == "application/json; charset=utf-8"
        assert set(r.json) == {"message"} and r.json["message"]
        r = await client.post("/services", json_body={"name": "after", "host": "a.example"})
        assert r.status == 503
        assert reactor.seconds() - started < 10
        status = await client.get("/status")
        assert status.status == 200 and status.json["database"] == {"reachable": False}
    finally:
        await port.stopListening()
        await dao.close()
