"""response-ratelimiting end to end: usage reported by the upstream, exact under concurrency."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

import pytest
import pytest_twisted

from tests.integration.harness import gateway_and_upstream
from tests.integration.plugins.test_rate_limiting import (
    REDIS,
    assert_exact_burst,
    forget_redis_keys,
    room_in_minute,
    route_id,
)

PLUGINS = "response-ratelimiting"


def _report_usage(exchange) -> None:
    """``/usage?u=videos=2,images=1&u=...``: one X-Kong-Limit header per ``u``, a JSON body."""
    headers = [("Content-Type", "application/json")]
    for name, value in parse_qsl(exchange.request.query or ""):
        if name == "u":
            headers.append(("X-Kong-Limit", value))
    remaining = {
        k: v for k, v in exchange.request.headers.items() if k.lower().startswith("x-ratelimit")
    }
    exchange.respond(200, repr(sorted(remaining.items())).encode(), headers)


@pytest_twisted.async_yield_fixture
async def env(tmp_path):
    async with gateway_and_upstream(tmp_path, plugins=PLUGINS, service="svc") as pair:
        pair[1].route("/usage", _report_usage)
        yield pair


async def _route(gw, name: str, config: dict) -> None:
    reply = await gw.admin("POST", "/services/svc/routes", {"name": name, "paths": [f"/{name}"]})
    assert reply.status == 201, reply
    reply = await gw.admin(
        "POST", f"/routes/{name}/plugins", {"name": "response-ratelimiting", "config": config}
    )
    assert reply.status == 201, reply
    # the route's path is stripped: /<name>/usage reaches the upstream's /usage


@pytest_twisted.ensureDeferred
async def test_usage_counts_down_and_header_is_stripped(env):
    """Reported usage lowers the remaining quota; X-Kong-Limit never reaches the client."""
    gw, _upstream = env
    limits = {"videos": {"minute": 5, "hour": 20}, "images": {"minute": 3}}
    await _route(gw, "rr", {"limits": limits, "limit_by": "ip"})
    await room_in_minute()
    reply = await gw.proxy("GET", "/rr/usage?u=videos=2,images=1")
    assert reply.status == 200
    assert reply.header("X-Kong-Limit") is None
    assert reply.header("X-RateLimit-Limit-videos-minute") == "5"
    assert reply.header("X-RateLimit-Remaining-videos-minute") == "3"
    assert reply.header("X-RateLimit-Remaining-videos-hour") == "18"
    assert reply.header("X-RateLimit-Remaining-images-minute") == "2"
    # The upstream saw what was left before this response.
    assert "('X-RateLimit-Remaining-videos', '5')" in reply.body.decode()
    # Two headers are combined.
    reply = await gw.proxy("GET", "/rr/usage?u=videos=1&u=images=2")
    assert reply.header("X-RateLimit-Remaining-videos-minute") == "2"
    assert reply.header("X-RateLimit-Remaining-images-minute") == "0"
    assert "('X-RateLimit-Remaining-images', '2')" in reply.body.decode()


@pytest_twisted.ensureDeferred
async def test_exhausted_quota_turns_responses_into_empty_429(env):
    """Once a name has no quota left, a response reporting usage of it becomes an empty 429."""
    gw, _upstream = env
    await _route(gw, "quota", {"limits": {"videos": {"minute": 2}}, "limit_by": "ip"})
    await room_in_minute()
    assert (await gw.proxy("GET", "/quota/usage?u=videos=3")).status == 200  # may overshoot once
    blocked = await gw.proxy("GET", "/quota/usage?u=videos=1")
    assert blocked.status == 429
    assert blocked.body == b""
    assert blocked.header("X-RateLimit-Remaining-videos-minute") == "0"
    # Responses that use none of the quota still pass.
    assert (await gw.proxy("GET", "/quota/usage")).status == 200


@pytest_twisted.ensureDeferred
async def test_block_on_first_violation_and_hidden_headers(env):
    """block_on_first_violation answers 429 before the upstream; hide_client_headers hides counts."""
    gw, upstream = env
    config = {
        "limits": {"videos": {"minute": 1}},
        "limit_by": "ip",
        "block_on_first_violation": True,
        "hide_client_headers": True,
    }
    await _route(gw, "first", config)
    await room_in_minute()
    ok = await gw.proxy("GET", "/first/usage?u=videos=1")
    assert ok.status == 200
    assert not [h for h in ok.headers if "ratelimit" in h or h == "x-kong-limit"]
    seen = len(upstream.requests)
    blocked = await gw.proxy("GET", "/first/usage?u=videos=1")
    assert blocked.status == 429
    assert blocked.json == {"message": "API rate limit exceeded for 'videos'"}
    assert len(upstream.requests) == seen


@pytest.mark.parametrize("policy", ["local", "redis", "cluster"])
@pytest_twisted.ensureDeferred
async def test_exact_under_concurrency(env, policy):
    """200 concurrent responses each using 1 of 50 per minute: exactly 50 pass, on every policy
    (cluster: the embedded SQLite store)."""
    gw, _upstream = env
    config = {"limits": {"videos": {"minute": 50}}, "limit_by": "ip", "policy": policy}
    if policy == "redis":
        config["redis"] = REDIS
    name = f"many{policy}"
    await _route(gw, name, config)
    route = await route_id(gw, name)
    try:
        await assert_exact_burst(gw, f"/{name}/usage?u=videos=1")
    finally:
        if policy == "redis":
            await forget_redis_keys(route, "response-ratelimit")


@pytest_twisted.ensureDeferred
async def test_schema(env):
    """limits is required; each limit needs a period, in order."""
    gw, _upstream = env
    reply = await gw.admin("POST", "/plugins", {"name": "response-ratelimiting", "config": {}})
    assert reply.status == 400
    assert reply.json["fields"]["config"]["limits"] == "required field missing"
    reply = await gw.admin(
        "POST",
        "/plugins",
        {"name": "response-ratelimiting", "config": {"limits": {"v": {"minute": 5, "hour": 1}}}},
    )
    assert reply.status == 400
    assert reply.json["fields"]["config"]["limits"]["v"] == (
        "the limit for hour(1.0) cannot be lower than the limit for minute(5.0)"
    )


@pytest_twisted.ensureDeferred
async def test_redis_down_fault_tolerance(env):
    """Redis unreachable: fault_tolerant proxies without counting; otherwise Kong's 500, in time."""
    gw, upstream = env
    down = {"host": "127.0.0.1", "port": 1, "timeout": 300}
    limits = {"videos": {"minute": 1}}
    await _route(gw, "rtol", {"limits": limits, "policy": "redis", "redis": down})
    await _route(
        gw, "rstrict", {"limits": limits, "policy": "redis", "redis": down, "fault_tolerant": False}
    )
    started = time.monotonic()
    ok = await gw.proxy("GET", "/rtol/usage?u=videos=5")
    assert ok.status == 200
    assert ok.header("X-RateLimit-Remaining-videos-minute") is None
    assert ok.header("X-Kong-Limit") is None
    seen = len(upstream.requests)
    failed = await gw.proxy("GET", "/rstrict/usage?u=videos=1")
    assert failed.status == 500
    assert failed.json == {"message": "An unexpected error occurred"}
    assert len(upstream.requests) == seen
    assert time.monotonic() - started < 3.0
