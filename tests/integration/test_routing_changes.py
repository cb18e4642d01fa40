"""Routing while routes change under concurrent proxied traffic (real sockets, SQLite).

Clients hammer a route that is never touched while the Admin API creates,
updates and deletes other routes: no request to the untouched route may get
anything but 200, each created route answers right after its write, each
deleted one answers 404, and none of it rebuilds the whole snapshot.
"""

from __future__ import annotations

from typing import Any

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredList

from tests.integration.harness import RunningGateway, start_gateway
from tests.support.upstream import start_upstream


async def _hammer(gw: RunningGateway, stop: list[bool], statuses: list[int]) -> None:
    while not stop:
        statuses.append((await gw.proxy("GET", "/stable/x")).status)


@pytest_twisted.ensureDeferred
async def test_untouched_route_keeps_answering_while_others_change(tmp_path: Any) -> None:
    upstream = await start_upstream(reactor)
    gw = await start_gateway(tmp_path, plugins="off")
    try:
        url = f"http://127.0.0.1:{upstream.port}"
        assert (await gw.admin("POST", "/services", {"name": "s", "url": url})).status == 201
        reply = await gw.admin(
            "POST", "/services/s/routes", {"name": "stable", "paths": ["/stable"]}
        )
        assert reply.status == 201
        builds = gw.node.snapshots.version
        swaps: list[Any] = []
        gw.node.snapshots.add_swap_listener(swaps.append)
        stop: list[bool] = []
        statuses: list[int] = []
        clients = [Deferred.fromCoroutine(_hammer(gw, stop, statuses)) for _ in range(8)]
        admin = gw.admin_url
        for i in range(40):
            created = await gw.request(
                "POST",
                f"{admin}/services/s/routes",
                json_body={"name": f"r{i}", "paths": [f"/r{i}", "/st"], "hosts": ["h.test"]},
            )
            assert created.status == 201, created
            # the new route answers at once: the change was applied before the write returned
            assert (await gw.proxy("GET", f"/r{i}", headers={"Host": "h.test"})).status == 200
            if i % 2:
                changed = await gw.request(
                    "PATCH", f"{admin}/routes/r{i}", json_body={"paths": [f"/moved{i}"]}
                )
                assert changed.status == 200
                assert (
                    await gw.proxy("GET", f"/moved{i}", headers={"Host": "h.test"})
                ).status == 200
                assert (await gw.proxy("GET", f"/r{i}", headers={"Host": "h.test"})).status == 404
            else:
                assert (await gw.request("DELETE", f"{admin}/routes/r{i}")).status == 204
                assert (await gw.proxy("GET", f"/r{i}", headers={"Host": "h.test"})).status == 404
        stop.append(True)
        await DeferredList(clients)
        assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
        assert swaps == []  # every change was applied incrementally
        assert gw.node.snapshots.version > builds
    finally:
        await gw.stop()
        await upstream.stop()
