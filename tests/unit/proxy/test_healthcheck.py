"""Unit tests for kongtx.proxy.healthcheck with a Clock and fake probes."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock

from kongtx.proxy.balancer import Address, Balancer, UnknownAddress
from kongtx.proxy.dns import DNSCache
from kongtx.proxy.healthcheck import ActiveHealthChecker, BalancerRegistry
from tests.unit.proxy.test_balancer import target_row, upstream_row, with_checks
from tests.unit.proxy.test_dns import FakeResolver, rr_a


class FakeProbe:
    """Answers each probe from ``results[ip]``: an int status, an exception, or ``"hang"``."""

    def __init__(self, results: dict[str, Any]) -> None:
        self.results = results
        self.calls: list[str] = []
        self.pending: list[Deferred[Any]] = []
        self.cancelled = 0

    def __call__(self, address: Address, active: Any) -> Any:
        self.calls.append(address.ip)
        result = self.results[address.ip]
        if result == "hang":
            d: Deferred[Any] = Deferred(lambda _: self._cancel())
            self.pending.append(d)
            return d
        if isinstance(result, Exception):
            raise result
        return succeed(result)

    def _cancel(self) -> None:
        self.cancelled += 1


def active_row(**active: Any) -> dict[str, Any]:
    """An upstream with active checks: healthy/unhealthy sections merged from kwargs."""
    row = with_checks(
        upstream_row(), "active", active.pop("healthy", {}), active.pop("unhealthy", {})
    )
    row["healthchecks"]["active"].update(active)
    return row


def two_targets(row: dict[str, Any], clock: Clock) -> Balancer:
    """A balancer over 10.0.0.1:80 and 10.0.0.2:80."""
    return Balancer(row, [target_row("10.0.0.1:80"), target_row("10.0.0.2:80")], clock)


def addr(b: Balancer, ip: str) -> Address:
    """The balancer's address with this ip."""
    return next(a for a in b.probe_addresses(True) + b.probe_addresses(False) if a.ip == ip)


def test_http_failures_then_recovery() -> None:
    """A target answering 500 goes unhealthy after N probes and returns after M successes."""
    clock = Clock()
    row = active_row(
        healthy={"interval": 5, "successes": 2}, unhealthy={"interval": 3, "http_failures": 2}
    )
    b = two_targets(row, clock)
    probe = FakeProbe({"10.0.0.1": 500, "10.0.0.2": 200})
    checker = ActiveHealthChecker(clock, b, probe)
    checker.start()
    clock.advance(5)
    assert sorted(probe.calls) == ["10.0.0.1", "10.0.0.2"]
    assert b.is_healthy(addr(b, "10.0.0.1"))
    clock.advance(5)
    assert not b.is_healthy(addr(b, "10.0.0.1"))
    assert b.is_healthy(addr(b, "10.0.0.2"))
    probe.calls.clear()
    clock.advance(3)  # the unhealthy loop probes only the unhealthy address
    assert probe.calls == ["10.0.0.1"]
    probe.results["10.0.0.1"] = 200
    clock.advance(3)
    assert not b.is_healthy(addr(b, "10.0.0.1"))
    clock.advance(3)
    assert b.is_healthy(addr(b, "10.0.0.1"))
    checker.stop()


def test_timeout_counts_as_timeout() -> None:
    """A probe that does not answer within ``timeout`` is cancelled and counted as a timeout."""
    clock = Clock()
    row = active_row(timeout=2, healthy={"interval": 10}, unhealthy={"timeouts": 1})
    b = two_targets(row, clock)
    probe = FakeProbe({"10.0.0.1": "hang", "10.0.0.2": 200})
    checker = ActiveHealthChecker(clock, b, probe)
    checker.start()
    clock.advance(10)
    assert b.is_healthy(addr(b, "10.0.0.1"))
    clock.advance(2)
    assert probe.cancelled == 1
    assert not b.is_healthy(addr(b, "10.0.0.1"))
    checker.stop()


def test_connection_error_counts_as_tcp_failure() -> None:
    """A refused connection is a TCP failure; with tcp_failures 0 it would be ignored."""
    clock = Clock()
    row = active_row(type="tcp", healthy={"interval": 1}, unhealthy={"tcp_failures": 2})
    b = two_targets(row, clock)
    probe = FakeProbe({"10.0.0.1": ConnectionRefusedError(), "10.0.0.2": None})
    checker = ActiveHealthChecker(clock, b, probe)
    checker.start()
    clock.advance(1)
    assert b.is_healthy(addr(b, "10.0.0.1"))
    clock.advance(1)
    assert not b.is_healthy(addr(b, "10.0.0.1"))
    assert b.is_healthy(addr(b, "10.0.0.2"))
    checker.stop()


def test_concurrency_limits_probes_in_flight() -> None:
    """No more than ``concurrency`` probes run at once."""
    clock = Clock()
    row = active_row(concurrency=1, timeout=5, healthy={"interval": 10})
    b = Balancer(row, [target_row(f"10.0.0.{i}:80") for i in (1, 2, 3)], clock)
    probe = FakeProbe({f"10.0.0.{i}": "hang" for i in (1, 2, 3)})
    checker = ActiveHealthChecker(clock, b, probe)
    checker.start()
    clock.advance(10)
    assert len(probe.calls) == 1
    probe.pending[0].callback(200)
    assert len(probe.calls) == 2
    checker.stop()
    assert probe.cancelled == 1


def test_zero_interval_disables_loop() -> None:
    """With healthy.interval 0, healthy addresses are never probed."""
    clock = Clock()
    row = active_row(healthy={"interval": 0}, unhealthy={"interval": 1, "http_failures": 1})
    b = two_targets(row, clock)
    probe = FakeProbe({"10.0.0.1": 200, "10.0.0.2": 200})
    checker = ActiveHealthChecker(clock, b, probe)
    checker.start()
    clock.advance(10)
    assert probe.calls == []
    b.set_health("10.0.0.2:80", None, False)
    clock.advance(1)
    assert probe.calls == ["10.0.0.2"]
    checker.stop()


def test_stop_cancels_and_stops_probing() -> None:
    """After stop() no probe is sent and probes in flight are cancelled."""
    clock = Clock()
    row = active_row(timeout=30, healthy={"interval": 1})
    b = two_targets(row, clock)
    probe = FakeProbe({"10.0.0.1": "hang", "10.0.0.2": "hang"})
    checker = ActiveHealthChecker(clock, b, probe)
    checker.start()
    clock.advance(1)
    assert checker.running and len(probe.calls) == 2
    checker.stop()
    assert probe.cancelled == 2 and not checker.running
    clock.advance(100)
    assert len(probe.calls) == 2
    assert clock.getDelayedCalls() == []


def _registry(clock: Clock, probe: Any = None) -> tuple[BalancerRegistry, FakeResolver]:
    resolver = FakeResolver()
    cache = DNSCache(resolver, clock)
    return BalancerRegistry(clock, cache, clock, node_id="node-1", probe=probe), resolver


def test_registry_sync_creates_updates_and_removes() -> None:
    """sync() keeps one balancer per upstream, with health state kept across updates."""
    clock = Clock()
    reg, _ = _registry(clock)
    up = upstream_row()
    reg.sync([up], [target_row("10.0.0.1:80"), target_row("10.0.0.2:80")])
    b = reg.get("svc.upstream")
    assert b is not None and reg.get_by_id("u-1") is b
    reg.set_health(up, target_row("10.0.0.1:80"), None, False)
    reg.sync([dict(up, name="renamed")], [target_row("10.0.0.1:80"), target_row("10.0.0.2:80")])
    assert reg.get("svc.upstream") is None and reg.get("renamed") is b
    assert not b.is_healthy(addr(b, "10.0.0.1"))
    reg.sync([], [])
    assert reg.get("renamed") is None
    reg.stop()


def test_registry_resolves_hostname_targets() -> None:
    """Hostname targets are resolved through the DNS cache and re-resolved after their TTL."""
    clock = Clock()
    reg, resolver = _registry(clock)
    resolver.table[("A", "app.test")] = [rr_a("app.test", "10.1.0.1", 10)]
    up = upstream_row()
    done: list[Any] = []
    reg.sync([up], [target_row("app.test:8080")]).addCallback(done.append)
    assert done == [None]
    b = reg.get("svc.upstream")
    assert b is not None
    assert (b.select().ip, b.select().port, b.select().hostname) == ("10.1.0.1", 8080, "app.test")
    resolver.table[("A", "app.test")] = [rr_a("app.test", "10.1.0.2", 10)]
    clock.advance(11)  # refresh loop: stale answer triggers a background query
    clock.advance(1)  # next tick applies the new answer
    assert b.select().ip == "10.1.0.2"
    reg.stop()
    assert clock.getDelayedCalls() == []


def test_registry_dns_error_shows_in_health() -> None:
    """A target whose name does not resolve is reported as DNS_ERROR."""
    clock = Clock()
    reg, _resolver = _registry(clock)
    up = upstream_row()
    reg.sync([up], [target_row("missing.test:80", n=1), target_row("10.0.0.1:80", n=0)])
    body = reg.health(up, False)
    assert body["node_id"] == "node-1"
    assert [(t["target"], t["health"]) for t in body["data"]] == [
        ("missing.test:80", "DNS_ERROR"),
        ("10.0.0.1:80", "HEALTHCHECKS_OFF"),
    ]
    reg.stop()


def test_registry_starts_and_stops_checkers() -> None:
    """Active checks run only while the upstream configures them."""
    clock = Clock()
    probe = FakeProbe({"10.0.0.1": 500})
    reg, _ = _registry(clock, probe)
    checked = active_row(healthy={"interval": 2}, unhealthy={"http_failures": 1})
    reg.sync([checked], [target_row("10.0.0.1:80")])
    clock.advance(2)
    assert probe.calls == ["10.0.0.1"]
    assert reg.health(checked, True)["data"]["health"] == "UNHEALTHY"
    reg.sync([upstream_row()], [target_row("10.0.0.1:80")])
    clock.advance(10)
    assert probe.calls == ["10.0.0.1"]
    reg.stop()


def test_registry_set_health_unknown() -> None:
    """Manual health on an unknown upstream or target raises UnknownAddress."""
    clock = Clock()
    reg, _ = _registry(clock)
    with pytest.raises(UnknownAddress):
        reg.set_health(upstream_row(), target_row("10.0.0.1:80"), None, True)
    reg.sync([upstream_row()], [target_row("10.0.0.1:80")])
    with pytest.raises(UnknownAddress):
        reg.set_health(upstream_row(), target_row("10.0.0.3:80"), None, True)
    assert reg.health(upstream_row(id="u-2"), False)["data"] == []
    reg.stop()
