"""The entity cache through the real gateway: credentials loaded on first use, invalidated by
change events on this node and on another node (PostgreSQL NOTIFY), and a cache miss while the
database is down."""

from __future__ import annotations

from typing import Any

import pytest_twisted
from twisted.internet import reactor, task

from kongtx.cache import cache_key
from tests.integration.harness import RunningGateway, postgres_nodes, start_gateway
from tests.integration.pg_outage import node_behind_forwarder
from tests.support.upstream import start_upstream


async def _key_auth_route(gw: RunningGateway, upstream_port: int) -> None:
    url = f"http://127.0.0.1:{upstream_port}"
    assert (await gw.admin("POST", "/services", {"name": "s", "url": url})).status == 201
    assert (
        await gw.admin("POST", "/services/s/routes", {"name": "r", "paths": ["/k"]})
    ).status == 201
    reply = await gw.admin("POST", "/routes/r/plugins", {"name": "key-auth"})
    assert reply.status == 201, reply
    assert (await gw.admin("POST", "/consumers", {"username": "alice"})).status == 201


async def _add_key(gw: RunningGateway, key: str) -> None:
    """Give alice the key-auth credential ``key``."""
    reply = await gw.request(
        "POST", gw.admin_url + "/consumers/alice/key-auth", json_body={"key": key}
    )
    assert reply.status == 201, reply


async def _with_key(gw: RunningGateway, key: str) -> int:
    return (await gw.proxy("GET", "/k", headers={"apikey": key})).status


async def _until(gw: RunningGateway, key: str, status: int, within: float) -> float:
    """Seconds until a request with ``key`` answers ``status`` (fails after ``within``)."""
    started = reactor.seconds()
    while True:
        got = await _with_key(gw, key)
        elapsed = reactor.seconds() - started
        if got == status:
            return elapsed
        assert elapsed < within, f"still {got} after {elapsed:.2f}s, expected {status}"
        await task.deferLater(reactor, 0.01, lambda: None)


@pytest_twisted.ensureDeferred
async def test_key_created_after_a_cached_miss_works_at_once(tmp_path: Any) -> None:
    """SQLite, one node: an unknown key is a cached miss; creating it makes it work on the
    next request, deleting it makes the next request fail, with no snapshot rebuild."""
    upstream = await start_upstream(reactor)
    gw = await start_gateway(tmp_path, plugins="key-auth")
    try:
        await _key_auth_route(gw, upstream.port)
        version = gw.node.snapshots.version
        assert await _with_key(gw, "late") == 401
        assert gw.node.entities.cache.peek(cache_key("keyauth_credentials", "late")) == (
            True,
            None,
        )
        await _add_key(gw, "late")
        assert await _with_key(gw, "late") == 200
        assert gw.node.snapshots.version == version  # credentials do not touch the snapshot
        deleted = await gw.request("DELETE", gw.admin_url + "/key-auths/late")
        assert deleted.status == 204
        assert await _with_key(gw, "late") == 401
    finally:
        await gw.stop()
        await upstream.stop()


@pytest_twisted.ensureDeferred
async def test_two_nodes_follow_each_others_credentials_within_a_second(tmp_path: Any) -> None:
    """PostgreSQL, two nodes, polling far away: a key deleted on A stops authenticating on B,
    and a key created on A after B cached its miss works on B, each within a second."""
    upstream = await start_upstream(reactor)
    try:
        async with postgres_nodes(tmp_path, "key-auth") as (node_a, node_b):
            await _key_auth_route(node_a, upstream.port)
            await _add_key(node_a, "k1")
            await _until(node_b, "k1", 200, 5.0)  # the route reached B; k1 is now cached there
            assert node_b.node.entities.cache.peek(cache_key("keyauth_credentials", "k1"))[0]

            deleted = await node_a.request("DELETE", node_a.admin_url + "/key-auths/k1")
            assert deleted.status == 204
            assert await _until(node_b, "k1", 401, 1.0) < 1.0

            assert await _with_key(node_b, "k2") == 401  # a cached miss on B
            await _add_key(node_a, "k2")
            assert await _until(node_b, "k2", 200, 1.0) < 1.0
    finally:
        await upstream.stop()


@pytest_twisted.ensureDeferred
async def test_miss_during_an_outage_fails_fast_then_recovers(tmp_path: Any) -> None:
    """Database cut: a cached key keeps working; an uncached one answers Kong's 500 within
    pg_timeout (no hang); once the database is back the same request succeeds, no restart."""
    upstream = await start_upstream(reactor)
    try:
        async with node_behind_forwarder(
            tmp_path, "kongtx_cache_outage", plugins="key-auth", db_update_frequency="1"
        ) as outage:
            gw, forwarder = outage.gw, outage.forwarder
            await _key_auth_route(gw, upstream.port)
            for key in ("warm", "cold"):
                await _add_key(gw, key)
            assert await _with_key(gw, "warm") == 200

            forwarder.cut()
            assert await _with_key(gw, "warm") == 200  # served from the cache
            started = reactor.seconds()
            failed = await gw.proxy("GET", "/k", headers={"apikey": "cold"})
            assert failed.status == 500, failed
            assert failed.json["message"] == "An unexpected error occurred"
            assert reactor.seconds() - started < 2.5

            forwarder.restore()
            await _until(gw, "cold", 200, 10.0)
    finally:
        await upstream.stop()


@pytest_twisted.ensureDeferred
async def test_expired_entries_are_resurrected_while_the_database_is_down(tmp_path: Any) -> None:
    """db_cache_ttl 1 s, db_resurrect_ttl 30 s: with the database cut, a key (and a cached
    unknown key) whose TTL ran out keeps answering as before instead of failing; with
    db_resurrect_ttl 0 the same request fails with Kong's 500."""
    upstream = await start_upstream(reactor)
    try:
        for resurrect, expect in (("30", (200, 401)), ("0", (500, 500))):
            async with node_behind_forwarder(
                tmp_path / resurrect,
                "kongtx_resurrect",
                plugins="key-auth",
                db_cache_ttl="1",
                db_resurrect_ttl=resurrect,
            ) as outage:
                gw = outage.gw
                await _key_auth_route(gw, upstream.port)
                await _add_key(gw, "k1")
                assert await _with_key(gw, "k1") == 200
                assert await _with_key(gw, "unknown") == 401
                outage.forwarder.cut()
                await task.deferLater(reactor, 1.2, lambda: None)  # past db_cache_ttl
                assert (await _with_key(gw, "k1"), await _with_key(gw, "unknown")) == expect
                # the credential, its consumer and the cached miss of the unknown key
                assert gw.node.entities.cache.resurrected == (3 if resurrect != "0" else 0)
    finally:
        await upstream.stop()


@pytest_twisted.ensureDeferred
async def test_cache_admin_endpoints(tmp_path: Any) -> None:
    """Kong's ``GET|DELETE /cache/{key}`` and ``DELETE /cache`` on the entity cache."""
    upstream = await start_upstream(reactor)
    gw = await start_gateway(tmp_path, plugins="key-auth")
    try:
        await _key_auth_route(gw, upstream.port)
        await _add_key(gw, "k1")
        assert await _with_key(gw, "k1") == 200
        assert await _with_key(gw, "nope") == 401
        key = cache_key("keyauth_credentials", "k1")
        cached = await gw.request("GET", f"{gw.admin_url}/cache/{key}")
        assert cached.status == 200 and cached.json["key"] == "k1"
        consumer_id = cached.json["consumer"]["id"]
        consumer = await gw.request(
            "GET", f"{gw.admin_url}/cache/{cache_key('consumers', consumer_id)}"
        )
        assert consumer.status == 200 and consumer.json["username"] == "alice"
        miss = await gw.request(
            "GET", f"{gw.admin_url}/cache/{cache_key('keyauth_credentials', 'nope')}"
        )
        assert miss.status == 200 and miss.body == b""  # a cached miss
        unknown = await gw.request("GET", f"{gw.admin_url}/cache/nothing:here:::::")
        assert (unknown.status, unknown.json) == (404, {"message": "Not found"})

        assert (await gw.request("DELETE", f"{gw.admin_url}/cache/{key}")).status == 204
        assert (await gw.request("GET", f"{gw.admin_url}/cache/{key}")).status == 404
        assert await _with_key(gw, "k1") == 200  # read again
        assert (await gw.request("DELETE", f"{gw.admin_url}/cache")).status == 204
        assert len(gw.node.entities.cache) == 0
    finally:
        await gw.stop()
        await upstream.stop()


@pytest_twisted.ensureDeferred
async def test_warmup_entities_are_cached_at_start(tmp_path: Any) -> None:
    """db_cache_warmup_entities: a node started on an existing database has its consumers and
    key-auth credentials in the cache before the first request, which then reads nothing."""
    upstream = await start_upstream(reactor)
    try:
        gw = await start_gateway(tmp_path, plugins="key-auth")
        try:
            await _key_auth_route(gw, upstream.port)
            await _add_key(gw, "k1")
        finally:
            await gw.stop()
        gw = await start_gateway(
            tmp_path, plugins="key-auth", db_cache_warmup_entities="consumers,keyauth_credentials"
        )
        try:
            key = cache_key("keyauth_credentials", "k1")
            cached = await gw.request("GET", f"{gw.admin_url}/cache/{key}")
            assert cached.status == 200 and cached.json["key"] == "k1"
            by_name = await gw.request(
                "GET", f"{gw.admin_url}/cache/{cache_key('consumers', 'alice')}"
            )
            assert by_name.status == 200 and by_name.json["username"] == "alice"
            loads = gw.node.entities.cache.loads
            assert await _with_key(gw, "k1") == 200
            assert gw.node.entities.cache.loads == loads  # credential and consumer: cache hits
        finally:
            await gw.stop()
    finally:
        await upstream.stop()
