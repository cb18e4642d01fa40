"""rate-limiting end to end: exact limits under concurrency, Kong's headers and errors, limit_by, policies."""

from __future__ import annotations

import os
import time

import pytest_twisted
import txredisapi
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.task import deferLater

from tests.integration.harness import gateway_and_upstream

PLUGINS = "key-auth,rate-limiting"
REDIS = {"host": "127.0.0.1", "port": 6379, "database": 0, "timeout": 2000}


@pytest_twisted.async_yield_fixture
async def env(tmp_path):
    async with gateway_and_upstream(tmp_path, plugins=PLUGINS, service="svc") as pair:
        yield pair


async def room_in_minute(seconds: float = 8.0) -> None:
    """Wait (at most ``seconds``) so a burst does not straddle a minute boundary."""
    left = 60 - time.time() % 60
    if left < seconds:
        await deferLater(reactor, left + 0.05, lambda: None)


async def burst(gw, path: str, count: int, **kwargs) -> list:
    results = await DeferredList(
        [Deferred.fromCoroutine(gw.proxy("GET", path, **kwargs)) for _ in range(count)],
        consumeErrors=True,
    )
    replies = []
    for ok, reply in results:
        assert ok, reply
        replies.append(reply)
    return replies


async def assert_exact_burst(gw, path: str, sent: int = 200, allowed: int = 50) -> list:
    """``sent`` concurrent requests within one minute against a limit of ``allowed``:
    exactly ``allowed`` pass, the others get 429."""
    await room_in_minute()
    replies = await burst(gw, path, sent)
    statuses = [r.status for r in replies]
    assert statuses.count(200) == allowed
    assert statuses.count(429) == sent - allowed
    return replies


async def route_id(gw, name: str) -> str:
    return (await gw.admin("GET", f"/routes/{name}")).json["id"]


async def forget_redis_keys(route: str, prefix: str = "ratelimit") -> None:
    """Delete the counters of ``route`` (tests share Redis database 0 with others)."""
    redis = await txredisapi.Connection("127.0.0.1", 6379, dbid=0, reconnect=False)
    try:
        keys = await redis.keys(f"{prefix}:{route}:*")
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.disconnect()


@pytest_twisted.ensureDeferred
async def test_local_policy_is_exact_under_concurrency(env):
    """200 concurrent requests against 50 per minute (local): exactly 50 pass, 150 get 429."""
    gw, _upstream = env
    await gw.route_with_plugin("burst", "rate-limiting", {"minute": 50, "limit_by": "ip"})
    await assert_exact_burst(gw, "/burst")


@pytest_twisted.ensureDeferred
async def test_headers_and_blocking(env):
    """Kong's X-RateLimit-*, RateLimit-* headers count down; past the limit 429 with Retry-After."""
    gw, _upstream = env
    await gw.route_with_plugin("hdr", "rate-limiting", {"minute": 3, "hour": 5, "limit_by": "ip"})
    await room_in_minute()
    first = await gw.proxy("GET", "/hdr")
    assert first.status == 200
    assert first.header("X-RateLimit-Limit-Minute") == "3"
    assert first.header("X-RateLimit-Remaining-Minute") == "2"
    assert first.header("X-RateLimit-Limit-Hour") == "5"
    assert first.header("X-RateLimit-Remaining-Hour") == "4"
    assert first.header("RateLimit-Limit") == "3"
    assert first.header("RateLimit-Remaining") == "2"
    assert 1 <= int(first.header("RateLimit-Reset")) <= 60
    await gw.proxy("GET", "/hdr")
    third = await gw.proxy("GET", "/hdr")
    assert third.header("X-RateLimit-Remaining-Minute") == "0"
    assert third.header("RateLimit-Remaining") == "0"
    blocked = await gw.proxy("GET", "/hdr")
    assert blocked.status == 429
    assert blocked.json["message"] == "API rate limit exceeded"
    assert blocked.header("X-RateLimit-Remaining-Minute") == "0"
    assert blocked.header("X-RateLimit-Remaining-Hour") == "2"
    assert blocked.header("Retry-After") == blocked.header("RateLimit-Reset")
    assert 1 <= int(blocked.header("Retry-After")) <= 60


@pytest_twisted.ensureDeferred
async def test_custom_error_and_hidden_headers(env):
    """error_code/error_message replace 429; hide_client_headers sends no rate-limit header."""
    gw, _upstream = env
    config = {
        "minute": 1,
        "limit_by": "ip",
        "error_code": 503,
        "error_message": "slow down",
        "hide_client_headers": True,
    }
    await gw.route_with_plugin("custom", "rate-limiting", config)
    await room_in_minute()
    ok = await gw.proxy("GET", "/custom")
    assert ok.status == 200
    assert not [h for h in ok.headers if "ratelimit" in h]
    blocked = await gw.proxy("GET", "/custom")
    assert blocked.status == 503
    assert blocked.json["message"] == "slow down"
    assert not [h for h in blocked.headers if "ratelimit" in h or h == "retry-after"]


@pytest_twisted.ensureDeferred
async def test_limit_by_header_path_and_service(env):
    """header: one counter per header value; path: only the configured path; service: shared by routes."""
    gw, _upstream = env
    await gw.route_with_plugin(
        "byheader",
        "rate-limiting",
        {"minute": 1, "limit_by": "header", "header_name": "X-Tenant"},
    )
    await room_in_minute()
    assert (await gw.proxy("GET", "/byheader", headers={"X-Tenant": "a"})).status == 200
    assert (await gw.proxy("GET", "/byheader", headers={"X-Tenant": "a"})).status == 429
    assert (await gw.proxy("GET", "/byheader", headers={"X-Tenant": "b"})).status == 200

    await gw.route_with_plugin(
        "bypath", "rate-limiting", {"minute": 1, "limit_by": "path", "path": "/bypath/x"}
    )
    assert (await gw.proxy("GET", "/bypath/x")).status == 200
    assert (await gw.proxy("GET", "/bypath/x")).status == 429
    # Another path falls back to the client IP: its own counter.
    assert (await gw.proxy("GET", "/bypath/y")).status == 200

    reply = await gw.admin("POST", "/services", {"name": "svc2", "url": "http://127.0.0.1:1"})
    svc2 = reply.json["id"]
    upstream_url = (await gw.admin("GET", "/services/svc")).json
    await gw.admin(
        "PATCH", "/services/svc2", {"host": upstream_url["host"], "port": upstream_url["port"]}
    )
    for name in ("s1", "s2"):
        reply = await gw.admin(
            "POST", "/services/svc2/routes", {"name": name, "paths": [f"/{name}"]}
        )
        assert reply.status == 201
    reply = await gw.admin(
        "POST",
        f"/services/{svc2}/plugins",
        {"name": "rate-limiting", "config": {"minute": 2, "limit_by": "service"}},
    )
    assert reply.status == 201, reply
    assert (await gw.proxy("GET", "/s1")).status == 200
    assert (await gw.proxy("GET", "/s2")).status == 200
    assert (await gw.proxy("GET", "/s1")).status == 429


@pytest_twisted.ensureDeferred
async def test_limit_by_consumer_and_credential(env):
    """consumer: one quota for all of a consumer's keys; credential: one per key."""
    gw, _upstream = env
    await gw.route_with_plugin("who", "key-auth", {})
    await gw.admin(
        "POST", "/routes/who/plugins", {"name": "rate-limiting", "config": {"minute": 2}}
    )
    await gw.route_with_plugin("cred", "key-auth", {})
    await gw.admin(
        "POST",
        "/routes/cred/plugins",
        {"name": "rate-limiting", "config": {"minute": 1, "limit_by": "credential"}},
    )
    await gw.admin("POST", "/consumers", {"username": "alice"})
    await gw.admin("POST", "/consumers/alice/key-auth", {"key": "k1"})
    await gw.admin("POST", "/consumers/alice/key-auth", {"key": "k2"})
    await gw.admin("POST", "/consumers", {"username": "bob"})
    await gw.admin("POST", "/consumers/bob/key-auth", {"key": "k3"})
    await room_in_minute()
    assert (await gw.proxy("GET", "/who", headers={"apikey": "k1"})).status == 200
    assert (await gw.proxy("GET", "/who", headers={"apikey": "k2"})).status == 200
    assert (await gw.proxy("GET", "/who", headers={"apikey": "k1"})).status == 429
    assert (await gw.proxy("GET", "/who", headers={"apikey": "k3"})).status == 200

    assert (await gw.proxy("GET", "/cred", headers={"apikey": "k1"})).status == 200
    assert (await gw.proxy("GET", "/cred", headers={"apikey": "k1"})).status == 429
    assert (await gw.proxy("GET", "/cred", headers={"apikey": "k2"})).status == 200


@pytest_twisted.ensureDeferred
async def test_redis_policy_is_exact_under_concurrency(env):
    """redis: 200 concurrent requests against 50 per minute let exactly 50 through."""
    gw, _upstream = env
    config = {"minute": 50, "limit_by": "ip", "policy": "redis", "redis": REDIS}
    await gw.route_with_plugin("rburst", "rate-limiting", config)
    route = await route_id(gw, "rburst")
    try:
        replies = await assert_exact_burst(gw, "/rburst")
        ok = [r for r in replies if r.status == 200]
        assert sorted(int(r.header("X-RateLimit-Remaining-Minute")) for r in ok) == list(range(50))
    finally:
        await forget_redis_keys(route)


@pytest_twisted.ensureDeferred
async def test_legacy_redis_fields_are_mapped(env):
    """Kong's flat redis_* fields are accepted and land in config.redis."""
    gw, _upstream = env
    reply = await gw.admin("POST", "/routes", {"name": "legacy", "paths": ["/legacy"]})
    assert reply.status == 201
    reply = await gw.admin(
        "POST",
        "/routes/legacy/plugins",
        {
            "name": "rate-limiting",
            "config": {
                "minute": 5,
                "policy": "redis",
                "redis_host": "127.0.0.1",
                "redis_port": 6380,
            },
        },
    )
    assert reply.status == 201, reply
    redis = reply.json["config"]["redis"]
    assert (redis["host"], redis["port"], redis["timeout"]) == ("127.0.0.1", 6380, 2000)
    assert "redis_host" not in reply.json["config"]


@pytest_twisted.ensureDeferred
async def test_redis_down_fault_tolerance(env):
    """Redis unreachable: fault_tolerant passes without headers; otherwise 500, within the timeout."""
    gw, _upstream = env
    down = {"host": "127.0.0.1", "port": 1, "timeout": 300}
    await gw.route_with_plugin(
        "tolerant", "rate-limiting", {"minute": 5, "policy": "redis", "redis": down}
    )
    await gw.route_with_plugin(
        "strict",
        "rate-limiting",
        {"minute": 5, "policy": "redis", "redis": down, "fault_tolerant": False},
    )
    started = time.monotonic()
    reply = await gw.proxy("GET", "/tolerant")
    assert reply.status == 200
    assert reply.header("X-RateLimit-Limit-Minute") is None
    reply = await gw.proxy("GET", "/strict")
    assert reply.status == 500
    assert reply.json["message"] == "An unexpected error occurred"
    assert time.monotonic() - started < 3.0


@pytest_twisted.ensureDeferred
async def test_schema_errors(env):
    """At least one limit; ordered limits; header_name with limit_by=header; redis.host with redis."""
    gw, _upstream = env
    reply = await gw.admin("POST", "/plugins", {"name": "rate-limiting", "config": {}})
    assert reply.status == 400
    assert "at least one of these fields must be non-empty" in reply.json["fields"]["@entity"][0]
    reply = await gw.admin(
        "POST", "/plugins", {"name": "rate-limiting", "config": {"minute": 20, "hour": 10}}
    )
    assert reply.status == 400
    assert reply.json["fields"]["config"] == (
        "The limit for hour(10.0) cannot be lower than the limit for minute(20.0)"
    )
    reply = await gw.admin(
        "POST", "/plugins", {"name": "rate-limiting", "config": {"minute": 1, "limit_by": "header"}}
    )
    assert reply.status == 400
    assert reply.json["fields"]["config"]["header_name"] == "required field missing"
    reply = await gw.admin(
        "POST", "/plugins", {"name": "rate-limiting", "config": {"minute": 1, "policy": "redis"}}
    )
    assert reply.status == 400
    assert reply.json["fields"]["config"]["redis"]["host"] == "required field missing"


@pytest_twisted.ensureDeferred
async def test_cluster_policy_on_sqlite_is_exact_under_concurrency(env):
    """cluster on the embedded SQLite store: 200 concurrent requests, 50 per minute, exactly 50 pass."""
    gw, _upstream = env
    config = {"minute": 50, "limit_by": "ip", "policy": "cluster"}
    await gw.route_with_plugin("cburst", "rate-limiting", config)
    await assert_exact_burst(gw, "/cburst")


@pytest_twisted.ensureDeferred
async def test_redis_user_password_and_database(env):
    """redis.username/password (an ACL user made for the test) and redis.database are used."""
    gw, _upstream = env
    user = f"kongtx-rl-{os.urandom(4).hex()}"
    admin = await txredisapi.Connection("127.0.0.1", 6379, dbid=0, reconnect=False)
    await admin.execute_command("ACL", "SETUSER", user, "on", ">s3cret", "~*", "+@all")
    try:
        redis = {**REDIS, "username": user, "password": "s3cret", "database": 5}
        await gw.route_with_plugin(
            "acl", "rate-limiting", {"minute": 2, "policy": "redis", "redis": redis}
        )
        wrong = {**redis, "password": "nope", "timeout": 500}
        await gw.route_with_plugin(
            "badpass",
            "rate-limiting",
            {"minute": 2, "policy": "redis", "redis": wrong, "fault_tolerant": False},
        )
        route = await route_id(gw, "acl")
        await room_in_minute()
        statuses = [(await gw.proxy("GET", "/acl")).status for _ in range(3)]
        assert statuses == [200, 200, 429]
        db5 = await txredisapi.Connection("127.0.0.1", 6379, dbid=5, reconnect=False)
        try:
            keys = await db5.keys(f"ratelimit:{route}:*")
            assert len(keys) == 1
            assert int(await db5.get(keys[0])) == 2
            await db5.delete(*keys)
        finally:
            await db5.disconnect()
        assert await admin.keys(f"ratelimit:{route}:*") == []
        started = time.monotonic()
        assert (await gw.proxy("GET", "/badpass")).status == 500
        assert time.monotonic() - started < 2.0
    finally:
        await admin.execute_command("ACL", "DELUSER", user)
        await admin.disconnect()
