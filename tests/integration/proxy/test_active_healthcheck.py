"""Active health checks against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest_twisted
from twisted.internet.defer import Deferred
from twisted.web.resource import Resource
from twisted.web.server import Site

from kongtx.proxy.balancer import Address
from kongtx.proxy.dns import DNSCache
from kongtx.proxy.healthcheck import BalancerRegistry
from tests.unit.proxy.test_balancer import target_row, upstream_row, with_checks


class StatusResource(Resource):
    """Answers every request with ``self.status`` and records what it was asked."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.status = 200
        self.requests: list[tuple[bytes, bytes | None, bytes | None]] = []

    def render(self, request: Any) -> bytes:
        self.requests.append(
            (request.path, request.getHeader(b"host"), request.getHeader(b"x-probe"))
        )
        request.setResponseCode(self.status)
        return b"ok"


async def _wait_for(balancer: Any, ip_port: tuple[str, int], healthy: bool, reactor: Any) -> None:
    """Wait until the balancer reports the given transition (10 s safety net)."""
    d: Deferred[None] = Deferred()

    def listener(address: Address, state: bool) -> None:
        if (address.ip, address.port) == ip_port and state is healthy and not d.called:
            d.callback(None)

    balancer.listeners.append(listener)
    d.addTimeout(10, reactor)
    try:
        await d
    finally:
        balancer.listeners.remove(listener)


@pytest_twisted.ensureDeferred
async def test_failing_target_goes_unhealthy_and_recovers() -> None:
    """A server answering 500 is marked unhealthy after N probes and healthy once it recovers."""
    from twisted.internet import reactor

    resources = [StatusResource(), StatusResource()]
    ports = [reactor.listenTCP(0, Site(r), interface="127.0.0.1") for r in resources]
    registry = BalancerRegistry(reactor, DNSCache(None, reactor), reactor, node_id="n1")
    try:
        addrs = [("127.0.0.1", p.getHost().port) for p in ports]
        row = with_checks(
            upstream_row(),
            "active",
            healthy={"interval": 0.1, "successes": 2},
            unhealthy={"interval": 0.1, "http_failures": 3},
        )
        row["healthchecks"]["active"].update(
            http_path="/status", timeout=2, headers={"X-Probe": ["kongtx"]}
        )
        registry.sync(
            [row], [target_row(f"{ip}:{port}", n=i) for i, (ip, port) in enumerate(addrs)]
        )
        balancer = registry.get("svc.upstream")
        assert balancer is not None

        resources[1].status = 500
        await _wait_for(balancer, addrs[1], False, reactor)
        failing = resources[1].requests
        assert len(failing) >= 3
        assert failing[0] == (b"/status", b"127.0.0.1", b"kongtx")
        assert {(a.ip, a.port) for a in (balancer.select() for _ in range(10))} == {addrs[0]}
        health = {t["target"]: t["health"] for t in registry.health(row, False)["data"]}
        assert health == {
            f"127.0.0.1:{addrs[0][1]}": "HEALTHY",
            f"127.0.0.1:{addrs[1][1]}": "UNHEALTHY",
        }

        resources[1].status = 200
        await _wait_for(balancer, addrs[1], True, reactor)
        assert {(a.ip, a.port) for a in (balancer.select() for _ in range(10))} == set(addrs)
        assert resources[0].requests  # the healthy server is probed too
    finally:
        registry.stop()
        for port in ports:
            await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_tcp_probe_detects_closed_port() -> None:
    """A tcp probe marks a target whose port is closed unhealthy."""
    from twisted.internet import reactor

    live = reactor.listenTCP(0, Site(StatusResource()), interface="127.0.0.1")
    dead = reactor.listenTCP(0, Site(StatusResource()), interface="127.0.0.1")
    dead_port = dead.getHost().port
    await dead.stopListening()
    registry = BalancerRegistry(reactor, DNSCache(None, reactor), reactor)
    try:
        row = with_checks(
            upstream_row(), "active", healthy={"interval": 0.1}, unhealthy={"tcp_failures": 2}
        )
        row["healthchecks"]["active"]["type"] = "tcp"
        registry.sync(
            [row],
            [target_row(f"127.0.0.1:{live.getHost().port}"), target_row(f"127.0.0.1:{dead_port}")],
        )
        balancer = registry.get("svc.upstream")
        await _wait_for(balancer, ("127.0.0.1", dead_port), False, reactor)
        assert {a.port for a in (balancer.select() for _ in range(5))} == {live.getHost().port}
    finally:
        registry.stop()
        await live.stopListening()
