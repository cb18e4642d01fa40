"""response-transformer end to end: headers, JSON bodies, streaming of other bodies, both front-ends."""

from __future__ import annotations

import json

import pytest_twisted

from tests.integration.harness import raw_connect
from tests.support.upstream import PATTERN

PLUGINS = "correlation-id,request-transformer,response-transformer"
SERVICE = "echo"
ROUTES = {"r": "/"}


async def _raw_get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET over a raw socket (treq hides Content-Length): status, lower-case headers, body."""
    client = await raw_connect(port)
    client.transport.write(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    raw = await client.closed
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


async def _plugin(gw, config: dict, path: str = "/routes/r/plugins") -> None:
    reply = await gw.admin("POST", path, {"name": "response-transformer", "config": config})
    assert reply.status == 201, reply


@pytest_twisted.ensureDeferred
async def test_headers_and_json_body(env):
    """Header operations and JSON operations (with json_types) apply; Content-Length is recomputed."""
    gw, upstream = env
    upstream.route(
        "/extra",
        lambda ex: ex.respond(
            200,
            b'{"path":"/hello","method":"GET","headers":{}}',
            [("Content-Type", "application/json"), ("X-Secret", "1"), ("X-Old", "o")],
        ),
    )
    await _plugin(
        gw,
        {
            "remove": {"headers": ["x-secret"], "json": ["headers", "body_encoding"]},
            "rename": {"headers": ["x-old:x-new"], "json": ["path:route_path"]},
            "replace": {"json": ["method:POSTED"]},
            "add": {
                "headers": ["x-added:yes"],
                "json": ["count:3", "ok:true"],
                "json_types": ["number", "boolean"],
            },
            "append": {"headers": ["x-added:more"], "json": ["method:x"]},
        },
    )
    reply = await gw.proxy("GET", "/hello")
    assert reply.status == 200, reply
    doc = reply.json
    assert "headers" not in doc and "body_encoding" not in doc
    assert doc["route_path"] == "/hello" and "path" not in doc
    assert doc["method"] == ["POSTED", "x"]
    assert doc["count"] == 3 and doc["ok"] is True
    assert reply.headers["x-added"] in (["yes", "more"], ["yes, more"])
    status, headers, body = await _raw_get(gw.node.port_of("proxy"), "/extra")
    assert status == 200
    assert "x-secret" not in headers and "x-old" not in headers and headers["x-new"] == "o"
    assert json.loads(body) == {
        "route_path": "/hello",
        "method": ["POSTED", "x"],
        "count": 3,
        "ok": True,
    }
    assert int(headers["content-length"]) == len(body)


@pytest_twisted.ensureDeferred
async def test_non_json_body_streams_unchanged(env):
    """With JSON operations, a binary response passes byte for byte with its Content-Length."""
    gw, _upstream = env
    await _plugin(gw, {"add": {"json": ["a:1"], "headers": ["x-seen:1"]}})
    status, headers, body = await _raw_get(gw.node.port_of("proxy"), "/bytes/70000")
    assert status == 200
    assert body == (PATTERN * 2)[:70000]
    assert headers["content-length"] == "70000"
    assert headers["x-seen"] == "1"


@pytest_twisted.ensureDeferred
async def test_kong_generated_response_is_transformed(env):
    """A response kongtx produces itself (404, no route) goes through the global plugin too."""
    gw, _upstream = env
    reply = await gw.admin("DELETE", "/routes/r")
    assert reply.status == 204, reply
    await _plugin(
        gw, {"add": {"json": ["hint:check the route"], "headers": ["x-global:1"]}}, "/plugins"
    )
    reply = await gw.proxy("GET", "/nowhere", headers={"Accept": "application/json"})
    assert reply.status == 404, reply
    assert reply.json["message"] == "no Route matched with those values"
    assert reply.json["hint"] == "check the route"
    assert reply.header("x-global") == "1"
    status, headers, body = await _raw_get(gw.node.port_of("proxy"), "/nowhere")
    assert status == 404 and int(headers["content-length"]) == len(body) and b'"hint"' in body


@pytest_twisted.ensureDeferred
async def test_admin_validation(env):
    """Bad rename headers and json_types are a 400 schema violation."""
    gw, _upstream = env
    reply = await gw.admin(
        "POST",
        "/plugins",
        {
            "name": "response-transformer",
            "config": {"rename": {"headers": ["a:b c"]}, "add": {"json_types": ["int"]}},
        },
    )
    assert reply.status == 400, reply
    fields = reply.json["fields"]["config"]
    assert fields["rename"]["headers"] == ["'b c' is not a valid header"]
    assert fields["add"]["json_types"] == ["expected one of: boolean, number, string"]
    reply = await gw.request("GET", gw.admin_url + "/schemas/plugins/response-transformer")
    assert reply.status == 200, reply
