"""cors end to end: preflights answered by the gateway, headers on proxied and Kong-made responses."""

from __future__ import annotations

import pytest_twisted

PLUGINS = "ip-restriction,cors,bot-detection,request-size-limiting,request-termination"


async def _route(gw, name: str, config: dict) -> None:
    await gw.route_with_plugin(name, "cors", config)


@pytest_twisted.ensureDeferred
async def test_preflight_answered_by_gateway(env):
    """A preflight is answered 200 by the plugin with the configured headers; the upstream sees nothing."""
    gw, upstream = env
    await _route(
        gw,
        "pre",
        {
            "origins": ["http://a.test", r"(.*)\.b\.test"],
            "methods": ["GET", "POST"],
            "headers": ["X-One"],
            "max_age": 600,
            "credentials": True,
        },
    )
    reply = await gw.proxy(
        "OPTIONS",
        "/pre",
        headers={"Origin": "http://x.b.test", "Access-Control-Request-Method": "POST"},
    )
    assert reply.status == 200
    assert reply.body == b""
    assert reply.header("access-control-allow-origin") == "http://x.b.test"
    assert reply.header("access-control-allow-methods") == "GET,POST"
    assert reply.header("access-control-allow-headers") == "X-One"
    assert reply.header("access-control-max-age") == "600"
    assert reply.header("access-control-allow-credentials") == "true"
    assert reply.header("vary") == "Origin"
    assert upstream.requests == []


@pytest_twisted.ensureDeferred
async def test_headers_on_proxied_response(env):
    """Proxied responses get ACAO (matched origin), Vary, exposed headers; unmatched lose ACAO."""
    gw, upstream = env
    await _route(
        gw,
        "resp",
        {
            "origins": ["http://a.test", "http://c.test:8080"],
            "exposed_headers": ["X-Total", "X-Page"],
        },
    )
    reply = await gw.proxy("GET", "/resp", headers={"Origin": "http://c.test:8080"})
    assert reply.status == 200
    assert reply.header("access-control-allow-origin") == "http://c.test:8080"
    assert reply.header("access-control-expose-headers") == "X-Total,X-Page"
    assert reply.headers["vary"] == ["Origin"]
    reply = await gw.proxy("GET", "/resp", headers={"Origin": "http://evil.test"})
    assert reply.header("access-control-allow-origin") is None
    assert len(upstream.requests) == 2


@pytest_twisted.ensureDeferred
async def test_preflight_continue_and_defaults(env):
    """preflight_continue sends the preflight upstream; default config allows '*'."""
    gw, upstream = env
    await _route(gw, "cont", {"preflight_continue": True})
    reply = await gw.proxy(
        "OPTIONS",
        "/cont",
        headers={"Origin": "http://a.test", "Access-Control-Request-Method": "GET"},
    )
    assert reply.status == 200
    assert reply.json["method"] == "OPTIONS"
    assert reply.header("access-control-allow-origin") is None
    reply = await gw.proxy("GET", "/cont", headers={"Origin": "http://a.test"})
    assert reply.header("access-control-allow-origin") == "*"
    assert reply.header("vary") is None


@pytest_twisted.ensureDeferred
async def test_headers_on_gateway_errors(env):
    """CORS headers are added to responses made by the gateway (another plugin's exit)."""
    gw, upstream = env
    await _route(gw, "err", {"origins": ["http://a.test"]})
    reply = await gw.admin(
        "POST",
        "/routes/err/plugins",
        {"name": "request-termination", "config": {"status_code": 403}},
    )
    assert reply.status == 201, reply
    reply = await gw.proxy("GET", "/err", headers={"Origin": "http://a.test"})
    assert reply.status == 403
    assert reply.header("access-control-allow-origin") == "http://a.test"
    assert upstream.requests == []


@pytest_twisted.ensureDeferred
async def test_admin_validation(env):
    """Bad origins/methods and consumer scoping are 400 schema violations."""
    gw, _ = env
    reply = await gw.admin("POST", "/plugins", {"name": "cors", "config": {"origins": ["(bad"]}})
    assert reply.status == 400
    assert reply.json["fields"]["config"]["origins"] == ["'(bad' is not a valid regex"]
    reply = await gw.admin("POST", "/plugins", {"name": "cors", "config": {"methods": ["BREW"]}})
    assert reply.status == 400
    reply = await gw.admin("POST", "/consumers", {"username": "bob"})
    assert reply.status == 201
    reply = await gw.admin("POST", "/consumers/bob/plugins", {"name": "cors"})
    assert reply.status == 400
    reply = await gw.admin("POST", "/plugins", {"name": "cors"})
    assert reply.status == 201
    config = reply.json["config"]
    assert config["methods"] == [
        "GET",
        "HEAD",
        "PUT",
        "PATCH",
        "POST",
        "DELETE",
        "OPTIONS",
        "TRACE",
        "CONNECT",
    ]
    assert (config["credentials"], config["preflight_continue"], config["allow_origin_absent"]) == (
        False,
        False,
        True,
    )
