"""DNSCache against a real twisted.names authoritative server on 127.0.0.1 (UDP)."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock
from twisted.names import authority, client, dns, server

from kongtx.proxy.dns import DNSCache, DNSError, ResolvedAddress

ZONE = b"example.test"
TTL = 60


class MemoryAuthority(authority.FileAuthority):
    """An authoritative zone held in memory (FileAuthority without a file)."""

    def __init__(self, soa: tuple[bytes, dns.Record_SOA], records: dict[bytes, list[Any]]) -> None:
        self._soa_records = soa, records
        super().__init__("in-memory")

    def loadFile(self, filename: str) -> None:
        self.soa, self.records = self._soa_records


class CountingFactory(server.DNSServerFactory):
    """Counts the queries the server receives, by (name, type)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[bytes, int]] = []

    def handleQuery(self, message: Any, protocol: Any, address: Any) -> Any:
        for q in message.queries:
            self.seen.append((q.name.name, q.type))
        return super().handleQuery(message, protocol, address)


def _zone() -> MemoryAuthority:
    soa = dns.Record_SOA(
        mname=b"ns1." + ZONE,
        rname=b"admin." + ZONE,
        serial=1,
        refresh=60,
        retry=60,
        expire=60,
        minimum=TTL,
        ttl=TTL,
    )
    records: dict[bytes, list[Any]] = {
        ZONE: [soa],
        b"_http._tcp." + ZONE: [
            dns.Record_SRV(10, 30, 9001, b"a." + ZONE, ttl=TTL),
            dns.Record_SRV(10, 10, 9002, b"b." + ZONE, ttl=TTL),
            dns.Record_SRV(20, 50, 9003, b"backup." + ZONE, ttl=TTL),
        ],
        b"a." + ZONE: [dns.Record_A("127.0.0.11", ttl=TTL)],
        b"b." + ZONE: [dns.Record_A("127.0.0.12", ttl=TTL)],
        b"backup." + ZONE: [dns.Record_A("127.0.0.13", ttl=TTL)],
        b"web." + ZONE: [dns.Record_A("127.0.0.21", ttl=TTL)],
    }
    return MemoryAuthority((ZONE, soa), records)


@pytest.fixture
def dns_server() -> Any:
    """A local authoritative DNS server over UDP on 127.0.0.1; yields (factory, port)."""
    from twisted.internet import reactor

    factory = CountingFactory(authorities=[_zone()])
    port = reactor.listenUDP(0, dns.DNSDatagramProtocol(factory), interface="127.0.0.1")
    yield factory, port.getHost().port
    pytest_twisted.blockon(maybeDeferred(port.stopListening))


def _cache(port: int, clock: Clock, **kwargs: Any) -> DNSCache:
    from twisted.internet import reactor

    resolver = client.Resolver(servers=[("127.0.0.1", port)], reactor=reactor, timeout=(2,))
    return DNSCache(resolver, clock, **kwargs)


@pytest_twisted.ensureDeferred
async def test_srv_targets_with_ports_and_weights(dns_server: Any) -> None:
    """SRV answers give each target's ip, port and weight (lowest priority value only)."""
    factory, port = dns_server
    cache = _cache(port, Clock())
    got = await cache.resolve("_http._tcp.example.test", 80)
    assert sorted(got, key=lambda a: a.port) == [
        ResolvedAddress("127.0.0.11", 9001, 30, 10),
        ResolvedAddress("127.0.0.12", 9002, 10, 10),
    ]
    assert (b"_http._tcp.example.test", dns.SRV) in factory.seen


@pytest_twisted.ensureDeferred
async def test_ttl_honoured(dns_server: Any) -> None:
    """A second resolve within the TTL sends no query; after the TTL it queries again."""
    factory, port = dns_server
    clock = Clock()
    cache = _cache(port, clock, stale_ttl=0)
    first = await cache.resolve("_http._tcp.example.test", 80)
    sent = len(factory.seen)
    assert sent >= 1
    clock.advance(TTL - 1)
    assert await cache.resolve("_http._tcp.example.test", 80) == first
    assert cache.cached("_http._tcp.example.test", 80) == first
    assert len(factory.seen) == sent
    clock.advance(2)
    assert cache.cached("_http._tcp.example.test", 80) is None
    assert await cache.resolve("_http._tcp.example.test", 80) == first
    assert len(factory.seen) > sent


@pytest_twisted.ensureDeferred
async def test_a_record_fallback_and_missing_name(dns_server: Any) -> None:
    """A name without SRV falls back to its A record; an unknown name raises DNSError."""
    _factory, port = dns_server
    cache = _cache(port, Clock())
    assert await cache.resolve("web.example.test", 8080) == (ResolvedAddress("127.0.0.21", 8080),)
    with pytest.raises(DNSError):
        await cache.resolve("nothing.example.test", 80)
