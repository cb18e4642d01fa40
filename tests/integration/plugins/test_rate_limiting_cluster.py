"""rate-limiting across two nodes: one exact limit through shared PostgreSQL (cluster) or Redis."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor, task
from twisted.internet.defer import Deferred, DeferredList

from tests.integration.harness import postgres_nodes
from tests.integration.pg_outage import node_behind_forwarder
from tests.integration.plugins.test_rate_limiting import REDIS, forget_redis_keys, room_in_minute
from tests.support.upstream import start_upstream


@pytest_twisted.async_yield_fixture
async def two_nodes(tmp_path):
    """Nodes A and B on one fresh PostgreSQL database, one upstream."""
    upstream = await start_upstream(reactor)
    try:
        async with postgres_nodes(tmp_path, "rate-limiting") as nodes:
            url = f"http://127.0.0.1:{upstream.port}"
            reply = await nodes[0].admin("POST", "/services", {"name": "svc", "url": url})
            assert reply.status == 201, reply
            yield nodes
    finally:
        await upstream.stop()


async def _split_burst(nodes, path: str, count: int) -> list[int]:
    """``count`` concurrent requests, alternating between the nodes."""
    calls = [Deferred.fromCoroutine(nodes[i % len(nodes)].proxy("GET", path)) for i in range(count)]
    results = await DeferredList(calls, consumeErrors=True)
    statuses = []
    for ok, reply in results:
        assert ok, reply
        statuses.append(reply.status)
    return statuses


@pytest.mark.parametrize("policy", ["cluster", "redis"])
@pytest_twisted.ensureDeferred
async def test_two_nodes_share_one_exact_limit(two_nodes, policy):
    """200 concurrent requests split over two nodes against 50 per minute: exactly 50 pass."""
    a, b = two_nodes
    config = {"minute": 50, "limit_by": "ip", "policy": policy}
    if policy == "redis":
        config["redis"] = REDIS
    await a.route_with_plugin("shared", "rate-limiting", config)
    await b.synced()
    route = (await a.admin("GET", "/routes/shared")).json["id"]
    try:
        await room_in_minute()
        statuses = await _split_burst(two_nodes, "/shared", 200)
        assert statuses.count(200) == 50
        assert statuses.count(429) == 150
    finally:
        if policy == "redis":
            await forget_redis_keys(route)


@pytest.mark.parametrize("failure", ["cut", "blackhole"])
@pytest_twisted.ensureDeferred
async def test_database_unreachable_fault_tolerance(tmp_path, failure):
    """cluster with PostgreSQL gone (refused or silent): fault_tolerant passes without headers,
    otherwise Kong's 500, each within pg_timeout; counting resumes once it is back."""
    upstream = await start_upstream(reactor)
    try:
        async with node_behind_forwarder(
            tmp_path, "kongtx_rl_down", plugins="rate-limiting"
        ) as outage:
            gw, forwarder = outage.gw, outage.forwarder
            url = f"http://127.0.0.1:{upstream.port}"
            assert (await gw.admin("POST", "/services", {"name": "svc", "url": url})).status == 201
            await gw.route_with_plugin(
                "tolerant", "rate-limiting", {"minute": 100, "policy": "cluster"}
            )
            await gw.route_with_plugin(
                "strict",
                "rate-limiting",
                {"minute": 100, "policy": "cluster", "fault_tolerant": False},
            )
            before = await gw.proxy("GET", "/tolerant")
            assert before.header("X-RateLimit-Remaining-Minute") == "99"

            getattr(forwarder, failure)()
            started = reactor.seconds()
            tolerant = await gw.proxy("GET", "/tolerant")
            assert tolerant.status == 200
            assert tolerant.header("X-RateLimit-Remaining-Minute") is None
            strict = await gw.proxy("GET", "/strict")
            assert strict.status == 500
            assert strict.json["message"] == "An unexpected error occurred"
            assert reactor.seconds() - started < 4.0  # two calls, each bounded by pg_timeout (1 s)

            forwarder.restore()
            for _ in range(100):
                back = await gw.proxy("GET", "/tolerant")
                if back.header("X-RateLimit-Remaining-Minute") is not None:
                    break
                await task.deferLater(reactor, 0.1, lambda: None)
            assert back.header("X-RateLimit-Remaining-Minute") is not None, back.headers
    finally:
        await upstream.stop()
