"""request-termination end to end: defaults, custom bodies, trigger, echo."""

from __future__ import annotations

import pytest_twisted

PLUGINS = "ip-restriction,cors,bot-detection,request-size-limiting,request-termination"


async def _route(gw, name: str, config: dict, service: bool = True) -> None:
    await gw.route_with_plugin(
        name, "request-termination", config, service="svc" if service else None
    )


@pytest_twisted.ensureDeferred
async def test_default_and_custom_exits(env):
    """Default 503 Service unavailable; custom status/message; body with content type; 204 empty."""
    gw, upstream = env
    await _route(gw, "default", {})
    await _route(gw, "custom", {"status_code": 418, "message": "short and stout"})
    await _route(
        gw, "page", {"status_code": 451, "body": "<h1>gone</h1>", "content_type": "text/html"}
    )
    await _route(gw, "empty", {"status_code": 204})
    reply = await gw.proxy("GET", "/default")
    assert reply.status == 503
    assert reply.json == {"message": "Service unavailable"}
    assert reply.header("content-type").startswith("application/json")
    assert reply.header("server").startswith("kongtx/")
    reply = await gw.proxy("GET", "/custom")
    assert (reply.status, reply.json) == (418, {"message": "short and stout"})
    reply = await gw.proxy("GET", "/page")
    assert (reply.status, reply.body, reply.header("content-type")) == (
        451,
        b"<h1>gone</h1>",
        "text/html",
    )
    reply = await gw.proxy("GET", "/empty")
    assert (reply.status, reply.body) == (204, b"")
    assert upstream.requests == []


@pytest_twisted.ensureDeferred
async def test_trigger_and_echo(env):
    """With a trigger only marked requests end; echo returns the request and the matched route."""
    gw, upstream = env
    await _route(gw, "trig", {"trigger": "x-stop"})
    await _route(gw, "echo", {"echo": True, "status_code": 200})
    reply = await gw.proxy("GET", "/trig")
    assert reply.status == 200
    reply = await gw.proxy("GET", "/trig", headers={"X-Stop": "1"})
    assert reply.status == 503
    reply = await gw.proxy("GET", "/trig?x-stop")
    assert reply.status == 503
    reply = await gw.proxy("POST", "/echo?a=1", headers={"X-Hello": "world"}, data=b"k=v")
    assert reply.status == 200
    echoed = reply.json
    assert echoed["request"]["headers"]["x-hello"] == "world"
    assert echoed["request"]["query"] == {"a": "1"}
    assert echoed["request"]["raw_body"] == "k=v"
    assert echoed["request"]["path"] == "/echo"
    assert echoed["matched_route"]["name"] == "echo"
    assert echoed["matched_service"]["name"] == "svc"
    assert len(upstream.requests) == 1


@pytest_twisted.ensureDeferred
async def test_service_less_route(env):
    """A route without a service is still terminated by the plugin (Kong spec)."""
    gw, _ = env
    await _route(gw, "nosvc", {"status_code": 200, "message": "terminated"}, service=False)
    reply = await gw.proxy("GET", "/nosvc")
    assert (reply.status, reply.json) == (200, {"message": "terminated"})


@pytest_twisted.ensureDeferred
async def test_admin_validation(env):
    """Conflicting options and bad statuses are 400 schema violations."""
    gw, _ = env
    for config, field_error in (
        ({"message": "x", "body": "y"}, "message cannot be used with content_type or body"),
        ({"content_type": "text/plain"}, "content_type requires a body"),
        ({"echo": True, "body": "y"}, "echo cannot be used with content_type and body"),
    ):
        reply = await gw.admin(
            "POST", "/plugins", {"name": "request-termination", "config": config}
        )
        assert reply.status == 400
        assert reply.json["fields"]["config"] == field_error
    reply = await gw.admin(
        "POST", "/plugins", {"name": "request-termination", "config": {"status_code": 99}}
    )
    assert reply.status == 400
    assert reply.json["fields"]["config"]["status_code"] == "value should be between 100 and 599"
