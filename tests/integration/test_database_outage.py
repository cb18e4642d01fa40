"""PostgreSQL going away under a running node: the proxy keeps serving, the Admin API answers 503
fast, and both recover by themselves when the database is back."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import reactor

from tests.integration.pg_outage import node_behind_forwarder
from tests.support.upstream import start_upstream


@pytest_twisted.ensureDeferred
async def test_outage_keeps_proxying_then_recovers(tmp_path):
    """Cut PostgreSQL: 503 JSON within pg_timeout, proxying goes on; restore: writes work and reach the proxy."""
    upstream = await start_upstream(reactor)
    try:
        async with node_behind_forwarder(
            tmp_path, "kongtx_outage", db_update_frequency="1"
        ) as outage:
            gw, forwarder = outage.gw, outage.forwarder
            url = f"http://127.0.0.1:{upstream.port}"
            assert (await gw.admin("POST", "/services", {"name": "s", "url": url})).status == 201
            reply = await gw.admin("POST", "/services/s/routes", {"paths": ["/before"]})
            assert reply.status == 201
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
            back = await outage.admin_back()
            assert back.status == 200, back
            reply = await gw.admin("POST", "/services/s/routes", {"paths": ["/after"]})
            assert reply.status == 201
            assert (await gw.proxy("GET", "/after")).status == 200
    finally:
        await upstream.stop()
