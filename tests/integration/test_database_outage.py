"""PostgreSQL going away under a running node: the proxy keeps serving, the Admin API answers 503
fast, and both recover by themselves when the database is back."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import reactor, task

from kongtx.config import load_config
from kongtx.store import open_store
from tests.integration.harness import start_gateway
from tests.integration.store.forwarder import Forwarder
from tests.pg import create_database, drop_database
from tests.support.upstream import start_upstream


async def _bootstrap(settings: dict[str, str]) -> None:
    config = load_config(None, env={}, overrides={"database": "postgres", **settings})
    dao = await open_store(config, reactor, auto_migrate=True)
    await dao.close()


@pytest_twisted.ensureDeferred
async def test_outage_keeps_proxying_then_recovers(tmp_path):
    """Cut PostgreSQL: 503 JSON within pg_timeout, proxying goes on; restore: writes work and reach the proxy."""
    db = create_database("kongtx_outage")
    upstream = await start_upstream(reactor)
    forwarder = Forwarder(reactor, db.host, db.port)
    port = await forwarder.start()
    settings = {
        "pg_host": "127.0.0.1",
        "pg_port": str(port),
        "pg_user": db.user,
        "pg_database": db.name,
    }
    gw = None
    try:
        await _bootstrap(settings)
        gw = await start_gateway(
            tmp_path,
            database="postgres",
            plugins="off",
            pg_timeout="1000",
            db_update_frequency="1",
            **settings,
        )
        url = f"http://127.0.0.1:{upstream.port}"
        assert (await gw.admin("POST", "/services", {"name": "s", "url": url})).status == 201
        assert (await gw.admin("POST", "/services/s/routes", {"paths": ["/before"]})).status == 201
        assert (await gw.proxy("GET", "/before")).status == 200

        forwarder.cut()
        started = reactor.seconds()
        down = await gw.request("GET", gw.admin_url + "/services")
        assert down.status == 503
        assert "message" in down.json
        assert reactor.seconds() - started < 3
        status = await gw.request("GET", gw.admin_url + "/status")
        assert status.json["database"]["reachable"] is False
        assert (await gw.proxy("GET", "/before")).status == 200  # served from the last snapshot

        forwarder.restore()
        for _ in range(200):
            back = await gw.request("GET", gw.admin_url + "/services")
            if back.status == 200:
                break
            await task.deferLater(reactor, 0.05, lambda: None)
        assert back.status == 200, back
        assert (await gw.admin("POST", "/services/s/routes", {"paths": ["/after"]})).status == 201
        assert (await gw.proxy("GET", "/after")).status == 200
    finally:
        if gw is not None:
            await gw.stop()
        await forwarder.stop()
        await upstream.stop()
        drop_database(db)
