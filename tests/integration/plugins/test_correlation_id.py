"""correlation-id end to end: upstream header, client id kept, echo downstream, both front-ends."""

from __future__ import annotations

import re

import pytest_twisted

PLUGINS = "correlation-id,request-transformer,response-transformer"
SERVICE = "echo"
ROUTES = {"r": "/"}
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest_twisted.ensureDeferred
async def test_default_generator_upstream_only(env):
    """By default a uuid#counter id goes upstream in Kong-Request-ID and is not echoed."""
    gw, _upstream = env
    reply = await gw.admin("POST", "/plugins", {"name": "correlation-id"})
    assert reply.status == 201, reply
    assert reply.json["config"] == {
        "header_name": "Kong-Request-ID",
        "generator": "uuid#counter",
        "echo_downstream": False,
    }
    first = (await gw.proxy("GET", "/a")).json["headers"]["kong-request-id"]
    second = (await gw.proxy("GET", "/a")).json["headers"]["kong-request-id"]
    m1, m2 = re.fullmatch(f"({UUID})#(\\d+)", first), re.fullmatch(f"({UUID})#(\\d+)", second)
    assert m1 and m2 and m1.group(1) == m2.group(1) and int(m2.group(2)) == int(m1.group(2)) + 1
    reply = await gw.proxy("GET", "/a")
    assert reply.header("kong-request-id") is None


@pytest_twisted.ensureDeferred
async def test_echo_and_client_id(env):
    """echo_downstream returns the id sent upstream; a client-supplied id is kept."""
    gw, _upstream = env
    reply = await gw.admin(
        "POST",
        "/routes/r/plugins",
        {
            "name": "correlation-id",
            "config": {"header_name": "X-Corr", "generator": "uuid", "echo_downstream": True},
        },
    )
    assert reply.status == 201, reply
    reply = await gw.proxy("GET", "/a")
    sent = reply.json["headers"]["x-corr"]
    assert re.fullmatch(UUID, sent) and reply.header("x-corr") == sent
    reply = await gw.proxy("GET", "/a", headers={"X-Corr": "mine"})
    assert reply.json["headers"]["x-corr"] == "mine" and reply.header("x-corr") == "mine"


@pytest_twisted.ensureDeferred
async def test_echo_on_errors(env):
    """The id is echoed on an upstream error (502) and on kongtx's own 404."""
    gw, _upstream = env
    reply = await gw.admin(
        "POST",
        "/plugins",
        {"name": "correlation-id", "config": {"generator": "tracker", "echo_downstream": True}},
    )
    assert reply.status == 201, reply
    reply = await gw.admin("POST", "/services", {"name": "dead", "url": "http://127.0.0.1:1"})
    assert reply.status == 201, reply
    reply = await gw.admin("POST", "/services/dead/routes", {"paths": ["/dead"]})
    assert reply.status == 201, reply
    reply = await gw.proxy("GET", "/dead")
    assert reply.status == 502, reply
    assert re.fullmatch(r"[\d.]+-\d+-\d+-\d+-\d+-\d+\.\d{3}", reply.header("kong-request-id") or "")
    reply = await gw.admin("DELETE", "/routes/r")
    assert reply.status == 204, reply
    reply = await gw.proxy("GET", "/nowhere")
    assert reply.status == 404, reply
    assert reply.header("kong-request-id")


@pytest_twisted.ensureDeferred
async def test_admin_validation(env):
    """An unknown generator is a 400 schema violation."""
    gw, _upstream = env
    reply = await gw.admin(
        "POST", "/plugins", {"name": "correlation-id", "config": {"generator": "nope"}}
    )
    assert reply.status == 400, reply
    assert (
        reply.json["fields"]["config"]["generator"]
        == "expected one of: uuid, uuid#counter, tracker"
    )
