"""request-transformer end to end: Admin API config, real sockets, the echo upstream, both front-ends."""

from __future__ import annotations

import json

import pytest_twisted

from tests.integration.harness import raw_connect

PLUGINS = "correlation-id,request-transformer,response-transformer"
SERVICE = "echo"


async def _route_with_plugin(gw, paths: list[str], config: dict, **route) -> None:
    reply = await gw.admin("POST", "/services/echo/routes", {"paths": paths, **route})
    assert reply.status == 201, reply
    reply = await gw.admin(
        "POST",
        f"/routes/{reply.json['id']}/plugins",
        {"name": "request-transformer", "config": config},
    )
    assert reply.status == 201, reply


async def _raw_request(port: int, head: bytes, first: bytes, rest: bytes) -> bytes:
    """Send ``head + first``, the rest of the body a moment later, and read until the server closes."""
    from twisted.internet import reactor, task

    client = await raw_connect(port)
    client.transport.write(head + first)
    await task.deferLater(reactor, 0.05, lambda: None)
    client.transport.write(rest)
    return await client.closed


@pytest_twisted.ensureDeferred
async def test_headers_query_and_json_body(env):
    """Header, querystring and JSON body operations reach the upstream; Content-Length follows."""
    gw, _upstream = env
    await _route_with_plugin(
        gw,
        ["/t"],
        {
            "remove": {"headers": ["x-drop"], "querystring": ["drop"], "body": ["secret"]},
            "rename": {
                "headers": ["x-old:x-new"],
                "querystring": ["old:new"],
                "body": ["name:username"],
            },
            "replace": {"headers": ["x-rep:$(headers.x_src)"], "body": ["role:admin"]},
            "add": {
                "headers": ["x-added:$(query_params.q)"],
                "querystring": ["added:yes"],
                "body": ["extra:1"],
            },
            "append": {"headers": ["x-multi:two"], "querystring": ["q:again"]},
        },
    )
    body = json.dumps({"secret": "s", "name": "bob", "role": "user"}).encode()
    reply = await gw.proxy(
        "POST",
        "/t?q=1&drop=x&old=o",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Drop": "1",
            "X-Old": "o",
            "X-Rep": "r",
            "X-Src": "from-src",
            "X-Multi": "one",
        },
    )
    assert reply.status == 200, reply
    echoed = reply.json
    headers = echoed["headers"]
    assert "x-drop" not in headers and "x-old" not in headers
    assert headers["x-new"] == "o"
    assert headers["x-rep"] == "from-src"
    assert headers["x-added"] == "1"
    assert headers["x-multi"] in (["one", "two"], "one, two")
    query = dict(pair.split("=") for pair in echoed["query"].split("&"))
    assert "drop" not in query and query["new"] == "o" and query["added"] == "yes"
    assert echoed["query"].count("q=") == 2
    sent = json.loads(echoed["body"])
    assert sent == {"username": "bob", "role": "admin", "extra": "1"}
    assert int(headers["content-length"]) == len(echoed["body"].encode())


@pytest_twisted.ensureDeferred
async def test_replace_uri_with_captures_and_method(env):
    """replace.uri renders regex captures into the upstream path; http_method changes the method."""
    gw, _upstream = env
    await _route_with_plugin(
        gw,
        [r"~/users/(?<id>\d+)$"],
        {
            "http_method": "PUT",
            "replace": {"uri": "/v2/accounts/$(uri_captures.id)"},
        },
    )
    reply = await gw.proxy("GET", "/users/42?x=1")
    assert reply.status == 200, reply
    assert reply.json["path"] == "/v2/accounts/42"
    assert reply.json["query"] == "x=1"
    assert reply.json["method"] == "PUT"


@pytest_twisted.ensureDeferred
async def test_form_body_and_get_conversion(env):
    """A form body is rewritten; changing to GET moves its arguments into the query string."""
    gw, _upstream = env
    await _route_with_plugin(gw, ["/form"], {"add": {"body": ["b:2"]}})
    await _route_with_plugin(gw, ["/toget"], {"http_method": "GET"})
    reply = await gw.proxy(
        "POST", "/form", data=b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert reply.status == 200, reply
    assert reply.json["body"] == "a=1&b=2"
    reply = await gw.proxy(
        "POST",
        "/toget?z=0",
        data=b"a=1&b=x+y",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 200, reply
    assert reply.json["method"] == "GET"
    assert reply.json["query"] == "z=0&a=1&b=x+y"


@pytest_twisted.ensureDeferred
async def test_body_arriving_late(env):
    """The access hook waits (a Deferred firing later) for a body that arrives after the head."""
    gw, _upstream = env
    await _route_with_plugin(gw, ["/late"], {"add": {"body": ["added:yes"]}})
    first, rest = b'{"a":', b'"b"}'
    head = (
        b"POST /late HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(first + rest)
    )
    raw = await _raw_request(gw.node.port_of("proxy"), head, first, rest)
    status_line, _, rest_of = raw.partition(b"\r\n")
    assert b" 200 " in status_line, raw[:300]
    body = rest_of.partition(b"\r\n\r\n")[2]
    echoed = json.loads(body)
    assert json.loads(echoed["body"]) == {"a": "b", "added": "yes"}


@pytest_twisted.ensureDeferred
async def test_other_content_type_streams_untouched(env):
    """Body operations leave a text body alone."""
    gw, _upstream = env
    await _route_with_plugin(gw, ["/text"], {"add": {"body": ["x:1"]}})
    reply = await gw.proxy(
        "POST", "/text", data=b"plain words", headers={"Content-Type": "text/plain"}
    )
    assert reply.status == 200, reply
    assert reply.json["body"] == "plain words"


@pytest_twisted.ensureDeferred
async def test_template_error_is_500(env):
    """A template failing at render time answers Kong's 500."""
    gw, upstream = env
    await _route_with_plugin(gw, ["/bad"], {"add": {"headers": ["x:$(headers.missing.deeper)"]}})
    reply = await gw.proxy("GET", "/bad")
    assert reply.status == 500, reply
    assert reply.json["message"] == "An unexpected error occurred"
    assert len(upstream.requests) == 0


@pytest_twisted.ensureDeferred
async def test_admin_schema_and_validation(env):
    """The plugin schema is served and a bad config is a 400 schema violation with Kong's messages."""
    gw, _upstream = env
    reply = await gw.request("GET", gw.admin_url + "/schemas/plugins/request-transformer")
    assert reply.status == 200, reply
    assert any("config" in field for field in reply.json["fields"])
    reply = await gw.admin(
        "POST",
        "/plugins",
        {
            "name": "request-transformer",
            "config": {
                "add": {"querystring": ["novalue"], "headers": ["bad header:1"]},
                "http_method": "get",
            },
        },
    )
    assert reply.status == 400, reply
    assert reply.json["name"] == "schema violation"
    config_errors = reply.json["fields"]["config"]
    assert config_errors["add"]["querystring"] == ["key 'novalue' has no value"]
    assert config_errors["add"]["headers"] == ["'bad header' is not a valid header"]
    assert config_errors["http_method"] == "invalid value: get"
