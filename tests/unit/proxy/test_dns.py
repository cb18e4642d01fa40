"""Unit tests for kongtx.proxy.dns.DNSCache over an in-memory resolver and a Clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.names import dns, error
from twisted.python.failure import Failure

from kongtx.proxy.dns import DNSCache, DNSError, ResolvedAddress


def rr_a(name: str, ip: str, ttl: int = 60) -> dns.RRHeader:
    """An A answer."""
    return dns.RRHeader(name, dns.A, dns.IN, ttl, dns.Record_A(ip, ttl))


def rr_srv(
    name: str, target: str, port: int, weight: int, priority: int = 10, ttl: int = 60
) -> dns.RRHeader:
    """An SRV answer."""
    return dns.RRHeader(
        name, dns.SRV, dns.IN, ttl, dns.Record_SRV(priority, weight, port, target, ttl)
    )


def rr_cname(name: str, target: str, ttl: int = 60) -> dns.RRHeader:
    """A CNAME answer."""
    return dns.RRHeader(name, dns.CNAME, dns.IN, ttl, dns.Record_CNAME(target, ttl))


class FakeResolver:
    """An IResolver answering from a table ``{(type, name): answers | exception}``."""

    def __init__(self) -> None:
        self.table: dict[tuple[str, str], Any] = {}
        self.calls: list[tuple[str, str]] = []
        self.hold: Deferred[Any] | None = None

    def _answer(self, rtype: str, name: str) -> Deferred[Any]:
        self.calls.append((rtype, name))
        if self.hold is not None:
            return self.hold
        found = self.table.get((rtype, name), error.DNSNameError(name))
        if isinstance(found, Exception):
            return fail(Failure(found))
        answers, additional = found if isinstance(found, tuple) else (found, [])
        return succeed((answers, [], additional))

    def lookupService(self, name: str, timeout: Any = None) -> Deferred[Any]:
        return self._answer("SRV", name)

    def lookupAddress(self, name: str, timeout: Any = None) -> Deferred[Any]:
        return self._answer("A", name)

    def lookupIPV6Address(self, name: str, timeout: Any = None) -> Deferred[Any]:
        return self._answer("AAAA", name)

    def lookupCanonicalName(self, name: str, timeout: Any = None) -> Deferred[Any]:
        return self._answer("CNAME", name)


def run(coro_fn: Callable[..., Any], *args: Any) -> Any:
    """Run a coroutine whose Deferreds have all fired; return its result or raise."""
    d = Deferred.fromCoroutine(coro_fn(*args))
    results: list[Any] = []
    d.addBoth(results.append)
    assert results, "coroutine did not finish synchronously"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


@pytest.fixture
def env() -> tuple[FakeResolver, Clock, DNSCache]:
    """A fake resolver, a clock and a cache over them."""
    resolver, clock = FakeResolver(), Clock()
    return resolver, clock, DNSCache(resolver, clock)


def test_ip_literals_pass_through(env: tuple[FakeResolver, Clock, DNSCache]) -> None:
    """IP literals resolve to themselves without a query, also from cached()."""
    resolver, _clock, cache = env
    assert cache.cached("10.1.2.3", 80) == (ResolvedAddress("10.1.2.3", 80),)
    assert run(cache.resolve, "[::1]", 81) == (ResolvedAddress("::1", 81),)
    assert resolver.calls == []


def test_a_records_cached_for_ttl(env: tuple[FakeResolver, Clock, DNSCache]) -> None:
    """A answers use the caller's port and are served from cache within their TTL."""
    resolver, clock, cache = env
    resolver.table[("A", "web.test")] = [
        rr_a("web.test", "10.0.0.1", 30),
        rr_a("web.test", "10.0.0.2", 30),
    ]
    assert cache.cached("web.test", 80) is None
    got = run(cache.resolve, "web.test", 80)
    assert got == (ResolvedAddress("10.0.0.1", 80), ResolvedAddress("10.0.0.2", 80))
    calls = len(resolver.calls)
    clock.advance(29)
    assert run(cache.resolve, "web.test", 8080)[0] == ResolvedAddress("10.0.0.1", 8080)
    assert cache.cached("web.test", 80) == got
    assert len(resolver.calls) == calls


def test_stale_served_while_refreshing(env: tuple[FakeResolver, Clock, DNSCache]) -> None:
    """An expired answer is served at once while a background refresh fetches the new one."""
    resolver, clock, cache = env
    resolver.table[("A", "web.test")] = [rr_a("web.test", "10.0.0.1", 10)]
    run(cache.resolve, "web.test", 80)
    resolver.table[("A", "web.test")] = [rr_a("web.test", "10.0.0.9", 10)]
    resolver.hold = Deferred()
    clock.advance(11)
    calls = len(resolver.calls)
    assert cache.cached("web.test", 80) == (ResolvedAddress("10.0.0.1", 80),)
    assert resolver.calls[calls:] == [("A", "web.test")]  # refresh started (LAST = A)
    assert run(cache.resolve, "web.test", 80) == (ResolvedAddress("10.0.0.1", 80),)
    assert len(resolver.calls) == calls + 1  # no second refresh while one is in flight
    held, resolver.hold = resolver.hold, None
    held.callback(([rr_a("web.test", "10.0.0.9", 10)], [], []))
    assert cache.cached("web.test", 80) == (ResolvedAddress("10.0.0.9", 80),)


def test_stale_expires_after_stale_ttl() -> None:
    """Beyond stale_ttl an expired answer is no longer served from cached()."""
    resolver, clock = FakeResolver(), Clock()
    cache = DNSCache(resolver, clock, stale_ttl=5)
    resolver.table[("A", "web.test")] = [rr_a("web.test", "10.0.0.1", 10)]
    run(cache.resolve, "web.test", 80)
    clock.advance(16)
    assert cache.cached("web.test", 80) is None


def test_srv_gives_port_weight_and_uses_glue(env: tuple[FakeResolver, Clock, DNSCache]) -> None:
    """SRV answers carry ip, port and weight; glue A records avoid extra queries."""
    resolver, _clock, cache = env
    resolver.table[("SRV", "_svc.test")] = (
        [
            rr_srv("_svc.test", "a.test", 9001, 30),
            rr_srv("_svc.test", "b.test", 9002, 10),
            rr_srv("_svc.test", "backup.test", 9003, 50, priority=20),
        ],
        [rr_a("a.test", "10.0.0.1")],
    )
    resolver.table[("A", "b.test")] = [rr_a("b.test", "10.0.0.2")]
    got = run(cache.resolve, "_svc.test", 80)
    assert got == (
        ResolvedAddress("10.0.0.1", 9001, 30, 10),
        ResolvedAddress("10.0.0.2", 9002, 10, 10),
    )
    assert ("A", "a.test") not in resolver.calls and ("A", "backup.test") not in resolver.calls


def test_last_successful_type_is_tried_first(env: tuple[FakeResolver, Clock, DNSCache]) -> None:
    """After an A answer, the refresh asks for A first (dns_order LAST)."""
    resolver, clock, cache = env
    resolver.table[("A", "web.test")] = [rr_a("web.test", "10.0.0.1", 1)]
    run(cache.resolve, "web.test", 80)
    assert resolver.calls == [("SRV", "web.test"), ("A", "web.test")]
    clock.advance(5000)
    resolver.calls.clear()
    run(cache.resolve, "web.test", 80)
    assert resolver.calls == [("A", "web.test")]


def test_cname_followed(env: tuple[FakeResolver, Clock, DNSCache]) -> None:
    """An A answer holding only a CNAME is followed to the canonical name."""
    resolver, _clock, cache = env
    resolver.table[("A", "alias.test")] = [rr_cname("alias.test", "real.test")]
    resolver.table[("A", "real.test")] = [rr_a("real.test", "10.0.0.5")]
    assert run(cache.resolve, "alias.test", 80) == (ResolvedAddress("10.0.0.5", 80),)


def test_not_found_is_cached(env: tuple[FakeResolver, Clock, DNSCache]) -> None:
    """A name that does not exist raises DNSError and is not queried again for not_found_ttl."""
    resolver, clock, cache = env
    with pytest.raises(DNSError, match="name resolution failed"):
        run(cache.resolve, "nope.test", 80)
    calls = len(resolver.calls)
    clock.advance(29)
    with pytest.raises(DNSError):
        run(cache.resolve, "nope.test", 80)
    assert len(resolver.calls) == calls
    clock.advance(2)
    resolver.table[("A", "nope.test")] = [rr_a("nope.test", "10.0.0.3")]
    assert run(cache.resolve, "nope.test", 80)[0].ip == "10.0.0.3"


def test_server_error_cached_briefly(env: tuple[FakeResolver, Clock, DNSCache]) -> None:
    """Server failures are cached for error_ttl only."""
    resolver, clock, cache = env
    for t in ("SRV", "A", "CNAME"):
        resolver.table[(t, "flaky.test")] = error.DNSServerError("boom")
    with pytest.raises(DNSError, match="server failure"):
        run(cache.resolve, "flaky.test", 80)
    calls = len(resolver.calls)
    with pytest.raises(DNSError):
        run(cache.resolve, "flaky.test", 80)
    assert len(resolver.calls) == calls
    clock.advance(1.5)
    resolver.table[("A", "flaky.test")] = [rr_a("flaky.test", "10.0.0.4")]
    assert run(cache.resolve, "flaky.test", 80)[0].ip == "10.0.0.4"


def test_stale_kept_when_refresh_fails(env: tuple[FakeResolver, Clock, DNSCache]) -> None:
    """If the refresh fails, the stale answer keeps being served."""
    resolver, clock, cache = env
    resolver.table[("A", "web.test")] = [rr_a("web.test", "10.0.0.1", 10)]
    run(cache.resolve, "web.test", 80)
    resolver.table[("A", "web.test")] = error.DNSServerError("down")
    clock.advance(11)
    assert run(cache.resolve, "web.test", 80) == (ResolvedAddress("10.0.0.1", 80),)
    assert cache.cached("web.test", 80) == (ResolvedAddress("10.0.0.1", 80),)


def test_valid_ttl_overrides_record_ttl() -> None:
    """valid_ttl replaces the records' TTL."""
    resolver, clock = FakeResolver(), Clock()
    cache = DNSCache(resolver, clock, valid_ttl=5)
    resolver.table[("A", "web.test")] = [rr_a("web.test", "10.0.0.1", 3600)]
    run(cache.resolve, "web.test", 80)
    assert cache.expires_at("web.test") == 5


def test_concurrent_resolves_share_one_query(env: tuple[FakeResolver, Clock, DNSCache]) -> None:
    """Two resolves of the same name while a query is in flight send one query."""
    resolver, _clock, cache = env
    resolver.hold = Deferred()
    resolver.table[("SRV", "web.test")] = [rr_srv("web.test", "10.0.0.8", 99, 5)]
    d1 = Deferred.fromCoroutine(cache.resolve("web.test", 80))
    d2 = Deferred.fromCoroutine(cache.resolve("web.test", 80))
    held, resolver.hold = resolver.hold, None
    held.callback(([rr_srv("web.test", "10.0.0.8", 99, 5)], [], []))
    out: list[Any] = []
    d1.addCallback(out.append)
    d2.addCallback(out.append)
    assert out[0] == out[1] == (ResolvedAddress("10.0.0.8", 99, 5, 10),)
    assert resolver.calls == [("SRV", "web.test")]


def test_hosts_file_honoured(tmp_path: Any) -> None:
    """Names in the hosts file resolve without any DNS query."""
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n10.9.8.7 db.internal db\n")
    resolver, clock = FakeResolver(), Clock()
    cache = DNSCache(resolver, clock, hosts_file=str(hosts))
    assert run(cache.resolve, "db", 5432) == (ResolvedAddress("10.9.8.7", 5432),)
    assert resolver.calls == []


def test_invalid_order_rejected() -> None:
    """An unknown record type in dns_order is a configuration error."""
    with pytest.raises(ValueError):
        DNSCache(FakeResolver(), Clock(), order=("LAST", "MX"))
