"""Service hosts and upstream targets resolved through a local twisted.names DNS server (SRV and A)."""

from __future__ import annotations

from typing import Any

import pytest_twisted
from twisted.internet import reactor
from twisted.names import dns

from tests.integration.harness import start_gateway
from tests.integration.proxy.test_dns_srv import CountingFactory, MemoryAuthority
from tests.support.upstream import start_upstream

ZONE = b"consul.test"
TTL = 60


def _zone(port_a: int, port_b: int) -> MemoryAuthority:
    soa = dns.Record_SOA(
        mname=b"ns." + ZONE, rname=b"admin." + ZONE, serial=1, minimum=TTL, ttl=TTL
    )
    records: dict[bytes, list[Any]] = {
        ZONE: [soa],
        # A service registry answers SRV for the service name: host and port of each instance.
        b"billing." + ZONE: [
            dns.Record_SRV(10, 50, port_a, b"node-a." + ZONE, ttl=TTL),
            dns.Record_SRV(10, 50, port_b, b"node-b." + ZONE, ttl=TTL),
        ],
        b"weighted." + ZONE: [
            dns.Record_SRV(10, 10, port_a, b"node-a." + ZONE, ttl=TTL),
            dns.Record_SRV(10, 30, port_b, b"node-b." + ZONE, ttl=TTL),
        ],
        b"node-a." + ZONE: [dns.Record_A("127.0.0.1", ttl=TTL)],
        b"node-b." + ZONE: [dns.Record_A("127.0.0.1", ttl=TTL)],
        b"web." + ZONE: [dns.Record_A("127.0.0.1", ttl=TTL)],
    }
    return MemoryAuthority((ZONE, soa), records)


@pytest_twisted.ensureDeferred
async def test_srv_service_and_hostname_targets(tmp_path):
    """A service named by SRV reaches every instance on its SRV port; an A-record target works too;
    answers are cached for their TTL (no query per request)."""
    first, second = await start_upstream(reactor), await start_upstream(reactor)
    factory = CountingFactory(authorities=[_zone(first.port, second.port)])
    udp = reactor.listenUDP(0, dns.DNSDatagramProtocol(factory), interface="127.0.0.1")
    gw = await start_gateway(
        tmp_path,
        plugins="off",
        dns_resolver=f"127.0.0.1:{udp.getHost().port}",
        dns_hostsfile=str(tmp_path / "no-hosts"),
    )
    try:
        reply = await gw.admin(
            "POST", "/services", {"name": "billing", "host": "billing.consul.test", "port": 80}
        )
        assert reply.status == 201, reply
        await gw.admin("POST", "/services/billing/routes", {"paths": ["/billing"]})
        for _ in range(6):
            reply = await gw.proxy("GET", "/billing/x")
            assert reply.status == 200, reply
        assert len(first.requests) == 3 and len(second.requests) == 3
        srv_queries = [q for q in factory.seen if q == (b"billing." + ZONE, dns.SRV)]
        assert len(srv_queries) == 1

        reply = await gw.admin("POST", "/services", {"name": "w", "host": "weighted.consul.test"})
        assert reply.status == 201, reply
        await gw.admin("POST", "/services/w/routes", {"paths": ["/weighted"]})
        before = len(first.requests), len(second.requests)
        for _ in range(40):
            assert (await gw.proxy("GET", "/weighted")).status == 200
        # SRV weights 10 and 30 split the traffic 1:3.
        assert (len(first.requests) - before[0], len(second.requests) - before[1]) == (10, 30)

        assert (await gw.admin("POST", "/upstreams", {"name": "web-pool"})).status == 201
        target = {"target": f"web.consul.test:{first.port}"}
        assert (await gw.admin("POST", "/upstreams/web-pool/targets", target)).status == 201
        await gw.admin("POST", "/services", {"name": "web", "host": "web-pool"})
        await gw.admin("POST", "/services/web/routes", {"paths": ["/web"]})
        reply = await gw.proxy("GET", "/web/y")
        assert reply.status == 200, reply
        assert first.requests[-1].headers.get("host") == f"web.consul.test:{first.port}"

        missing = await gw.admin(
            "POST", "/services", {"name": "ghost", "host": "ghost.consul.test"}
        )
        assert missing.status == 201
        await gw.admin("POST", "/services/ghost/routes", {"paths": ["/ghost"]})
        reply = await gw.proxy("GET", "/ghost", headers={"Accept": "application/json"})
        assert reply.status == 503
        assert reply.json["message"] == "name resolution failed"
    finally:
        await gw.stop()
        await udp.stopListening()
        await first.stop()
        await second.stop()
