"""The proxy end to end: Admin API configuration, real sockets, a real upstream, both front-ends."""

from __future__ import annotations

import socket

import pytest
import pytest_twisted
from twisted.internet import reactor

from tests.integration.harness import gateway_and_upstream, raw_connect


@pytest_twisted.async_yield_fixture
async def env(tmp_path, frontend):
    async with gateway_and_upstream(tmp_path, frontend, plugins="off") as pair:
        yield pair


async def _echo_route(gw, upstream, service=None, **route):
    """The echo service (``service``: more of its fields) with one route (``route``'s
    fields; default: a catch-all)."""
    await _service(gw, upstream, **(service or {}))
    reply = await gw.admin("POST", "/services/echo/routes", route or {"paths": ["/"]})
    assert reply.status == 201, reply


async def _forwarded_headers(gw, upstream, proto, **sent):
    """The headers the upstream got for a request sending X-Forwarded-For 203.0.113.7,
    X-Forwarded-Proto ``proto`` and ``sent`` (through the echo route)."""
    await _echo_route(gw, upstream)
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": proto, **sent}
    return (await gw.proxy("GET", "/x", headers=headers)).json["headers"]


async def _service(gw, upstream, **fields):
    reply = await gw.admin(
        "POST", "/services", {"name": "echo", "url": f"http://127.0.0.1:{upstream.port}", **fields}
    )
    assert reply.status == 201, reply
    return reply.json


@pytest_twisted.ensureDeferred
async def test_routes_by_host_and_strips_path(env):
    """A route matched by host and path reaches the upstream with the prefix stripped."""
    gw, upstream = env
    await _echo_route(gw, upstream, hosts=["api.test"], paths=["/api"])
    reply = await gw.proxy("GET", "/api/users?x=1", headers={"Host": "api.test"})
    assert reply.status == 200, reply
    echoed = reply.json
    assert echoed["path"] == "/users"
    assert echoed["query"] == "x=1"
    assert echoed["headers"]["x-forwarded-host"] == "api.test"
    assert echoed["headers"]["x-forwarded-prefix"] == "/api"
    assert echoed["headers"]["x-forwarded-path"] == "/api/users"
    assert echoed["headers"]["x-forwarded-proto"] == "http"
    assert echoed["headers"]["x-real-ip"] == "127.0.0.1"
    assert "kongtx" in echoed["headers"]["via"]
    assert reply.header("via").endswith(f"kongtx/{__import__('kongtx').__version__}")
    assert reply.header("x-kong-upstream-latency") is not None
    assert reply.header("x-kong-proxy-latency") is not None
    assert len(reply.header("x-kong-request-id")) == 32


@pytest_twisted.ensureDeferred
async def test_no_route_is_kong_404(env):
    """An unmatched request gets Kong's 404 JSON body and reaches nothing."""
    gw, upstream = env
    reply = await gw.proxy("GET", "/nothing", headers={"Accept": "application/json"})
    assert reply.status == 404
    assert reply.json["message"] == "no Route matched with those values"
    assert reply.header("x-kong-response-latency") is not None
    assert upstream.requests == []


@pytest_twisted.ensureDeferred
async def test_error_body_follows_accept(env):
    """Kong negotiates error bodies: text/plain and text/html on request."""
    gw, _ = env
    reply = await gw.proxy("GET", "/nothing", headers={"Accept": "text/plain"})
    assert reply.body.startswith(b"no Route matched with those values\nrequest_id: ")
    reply = await gw.proxy("GET", "/nothing", headers={"Accept": "text/html"})
    assert b"<h1>Error</h1>" in reply.body


@pytest_twisted.ensureDeferred
async def test_refused_upstream_is_502(env):
    """A service whose port refuses connections answers 502 after its retries."""
    gw, _ = env
    await gw.admin("POST", "/services", {"name": "dead", "url": "http://127.0.0.1:1", "retries": 1})
    await gw.admin("POST", "/services/dead/routes", {"paths": ["/dead"]})
    reply = await gw.proxy("GET", "/dead", headers={"Accept": "application/json"})
    assert reply.status == 502
    assert reply.json["message"] == "An invalid response was received from the upstream server"


@pytest_twisted.ensureDeferred
async def test_gateway_error_types_as_kong(env):
    """502 bodies: Accept */* or an unknown type gives JSON; error_default_type only without
    Accept and Content-Type (text/plain by default); Content-Type is the fallback."""
    gw, _ = env
    await gw.admin("POST", "/services", {"name": "dead", "url": "http://127.0.0.1:1", "retries": 0})
    await gw.admin("POST", "/services/dead/routes", {"paths": ["/dead"]})
    for headers, expected in (
        ({"Accept": "*/*"}, "application/json; charset=utf-8"),
        ({"Accept": "image/png"}, "application/json; charset=utf-8"),
        ({"Content-Type": "text/html"}, "text/html; charset=utf-8"),
        ({}, "text/plain; charset=utf-8"),
    ):
        reply = await gw.proxy("GET", "/dead", headers=headers)
        assert reply.status == 502 and reply.header("content-type") == expected, headers
    reply = await gw.proxy("GET", "/dead", headers={"Accept": "*/*"})
    assert reply.json["message"] == "An invalid response was received from the upstream server"


@pytest_twisted.ensureDeferred
async def test_slow_upstream_is_504(env):
    """read_timeout elapses on a slow upstream: 504."""
    gw, upstream = env
    await _echo_route(gw, upstream, {"read_timeout": 200, "retries": 0})
    reply = await gw.proxy("GET", "/delay/3", headers={"Accept": "application/json"})
    assert reply.status == 504
    assert reply.json["message"] == "The upstream server is timing out"


@pytest_twisted.ensureDeferred
async def test_route_without_service_is_503(env):
    """A route with no service answers Kong's 503."""
    gw, _ = env
    reply = await gw.admin("POST", "/routes", {"paths": ["/orphan"]})
    assert reply.status == 201, reply
    reply = await gw.proxy("GET", "/orphan", headers={"Accept": "application/json"})
    assert reply.status == 503
    assert reply.json["message"] == "no Service found with those values"


@pytest_twisted.ensureDeferred
async def test_https_only_route_over_http_is_426(env):
    """A route limited to https answers 426 to plain http."""
    gw, upstream = env
    await _echo_route(gw, upstream, paths=["/secure"], protocols=["https"])
    reply = await gw.proxy("GET", "/secure", headers={"Accept": "application/json"})
    assert reply.status == 426
    assert reply.json["message"] == "Please use HTTPS protocol"
    raw = await _raw_exchange(
        gw.node.port_of("proxy"), b"GET /secure HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    assert b"\r\nUpgrade: TLS/1.2, HTTP/1.1\r\n" in raw


@pytest_twisted.ensureDeferred
async def test_https_redirect_status_code(env):
    """https_redirect_status_code 301 redirects to https with the original URI."""
    gw, upstream = env
    redirect = {"protocols": ["https"], "https_redirect_status_code": 301}
    await _echo_route(gw, upstream, paths=["/secure"], **redirect)
    reply = await gw.request(
        "GET", gw.proxy_url + "/secure/x?y=1", headers={"Host": "example.test"}
    )
    assert reply.status == 301
    assert reply.header("location") == "https://example.test/secure/x?y=1"


@pytest_twisted.ensureDeferred
async def test_post_body_is_forwarded(env):
    """A request body reaches the upstream intact, with its length."""
    gw, upstream = env
    await _echo_route(gw, upstream)
    payload = b"x" * 300_000
    reply = await gw.proxy("POST", "/upload", data=payload)
    assert reply.status == 200, reply
    assert reply.json["received"] == len(payload)
    assert upstream.requests[-1].headers.get("content-length") == str(len(payload))


@pytest_twisted.ensureDeferred
async def test_preserve_host(env):
    """preserve_host sends the client's Host; otherwise the service host and port."""
    gw, upstream = env
    await _service(gw, upstream)
    await gw.admin(
        "POST", "/services/echo/routes", {"name": "keep", "paths": ["/keep"], "preserve_host": True}
    )
    await gw.admin("POST", "/services/echo/routes", {"name": "swap", "paths": ["/swap"]})
    kept = await gw.proxy("GET", "/keep", headers={"Host": "client.test"})
    assert kept.json["headers"]["host"] == "client.test"
    swapped = await gw.proxy("GET", "/swap", headers={"Host": "client.test"})
    assert swapped.json["headers"]["host"] == f"127.0.0.1:{upstream.port}"


@pytest_twisted.ensureDeferred
async def test_legacy_apis_seed_example(env):
    """The 0.x seed example works verbatim: POST /apis then proxy with the Host header."""
    gw, upstream = env
    reply = await gw.admin(
        "POST",
        "/apis/",
        data={
            "name": "mockbin",
            "upstream_url": f"http://127.0.0.1:{upstream.port}/",
            "request_host": "mockbin.com",
        },
    )
    assert reply.status == 201, reply
    reply = await gw.proxy("GET", "/", headers={"Host": "mockbin.com"})
    assert reply.status == 200, reply
    assert reply.json["path"] == "/"
    assert len(upstream.requests) == 1


async def _raw_exchange(port: int, payload: bytes) -> bytes:
    proto = await raw_connect(port)
    proto.transport.write(payload)
    reactor.callLater(3, proto.transport.loseConnection)
    return await proto.closed


HOSTILE = {
    "cl_and_te": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "duplicate_cl": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    "invalid_chunk": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "huge_header": b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n",
    # issue 15: Host validation, dot-segments above the root, HTTP/0.9
    "host_space": b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    "host_slash": b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
    "host_userinfo": b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
    "host_empty": b"GET / HTTP/1.1\r\nHost: \r\n\r\n",
    "host_dots": b"GET / HTTP/1.1\r\nHost: a..b\r\n\r\n",
    "dotdot_encoded": b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n",
    "dotdot_plain": b"GET /../../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n",
    "dotdot_mixed": b"GET /a/.%2E/%2e./etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n",
    "http09_line": b"GET /\r\n",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest_twisted.ensureDeferred
async def test_hostile_requests_never_reach_upstream(env, case):
    """Smuggling-shaped and oversized requests get a 4xx and are never forwarded."""
    gw, upstream = env
    await _echo_route(gw, upstream)
    answer = await _raw_exchange(gw.node.port_of("proxy"), HOSTILE[case])
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.split(b" ")[1] in (b"400", b"413", b"431"), answer[:200]
    assert upstream.requests == []


@pytest_twisted.ensureDeferred
async def test_trusted_ips_and_real_ip_header(tmp_path, frontend):
    """From a trusted peer, X-Forwarded-* are kept and the client IP comes from real_ip_header."""
    async with gateway_and_upstream(
        tmp_path, frontend, plugins="off", trusted_ips="127.0.0.1", real_ip_header="X-Forwarded-For"
    ) as (gw, upstream):
        forwarded = {"X-Forwarded-Host": "public.example", "X-Forwarded-Port": "443"}
        echoed = await _forwarded_headers(gw, upstream, "https", **forwarded)
        assert echoed["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
        assert echoed["x-real-ip"] == "203.0.113.7"
        assert echoed["x-forwarded-proto"] == "https"
        assert echoed["x-forwarded-host"] == "public.example"
        assert echoed["x-forwarded-port"] == "443"


@pytest_twisted.ensureDeferred
async def test_untrusted_peer_cannot_spoof_forwarded_headers(env):
    """Without trusted_ips, client X-Forwarded-Proto/Host are replaced and X-Real-IP is the peer."""
    gw, upstream = env
    spoofed = {"X-Real-IP": "203.0.113.7", "Host": "h.test"}
    echoed = await _forwarded_headers(gw, upstream, "https", **spoofed)
    assert echoed["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert echoed["x-real-ip"] == "127.0.0.1"
    assert echoed["x-forwarded-proto"] == "http"
    assert echoed["x-forwarded-host"] == "h.test"


@pytest_twisted.ensureDeferred
async def test_headers_setting_off_removes_kong_headers(tmp_path, frontend):
    """headers = off: no Via, no latency or request-id headers on responses."""
    async with gateway_and_upstream(tmp_path, frontend, plugins="off", headers="off") as (
        gw,
        upstream,
    ):
        await _echo_route(gw, upstream)
        reply = await gw.proxy("GET", "/x")
        assert reply.status == 200
        for name in ("via", "x-kong-upstream-latency", "x-kong-proxy-latency", "x-kong-request-id"):
            assert reply.header(name) is None, name
        miss = await gw.proxy("GET", "/", headers={"Host": "none"})
        assert miss.header("x-kong-response-latency") is None


@pytest_twisted.ensureDeferred
async def test_client_max_body_size_is_413(tmp_path, frontend):
    """nginx_http_client_max_body_size: a larger body is refused with 413 and never forwarded."""
    async with gateway_and_upstream(
        tmp_path, frontend, plugins="off", nginx_http_client_max_body_size="1k"
    ) as (gw, upstream):
        await _echo_route(gw, upstream)
        ok = await gw.proxy("POST", "/upload", data=b"a" * 1000)
        assert ok.status == 200
        big = await gw.proxy("POST", "/upload", data=b"a" * 5000)
        assert big.status == 413
        assert len(upstream.requests) == 1


@pytest_twisted.ensureDeferred
async def test_admin_api_identifies_itself_and_reports_latency(env):
    """The Admin API answers with Server: kongtx/<version> and X-Kong-Admin-Latency, and counts proxied requests."""
    gw, _ = env
    await gw.proxy("GET", "/nothing")
    reply = await gw.admin("GET", "/status")
    assert reply.header("server") == f"kongtx/{__import__('kongtx').__version__}"
    assert reply.header("x-kong-admin-latency") is not None
    assert reply.json["server"]["total_requests"] >= 1
    assert reply.json["database"]["reachable"] is True


@pytest_twisted.ensureDeferred
async def test_error_templates_and_port_maps(tmp_path, frontend):
    """error_template_* replace Kong's pages (message and request id filled in); port_maps set X-Forwarded-Port."""
    plain = tmp_path / "error.txt"
    plain.write_text("custom page: %s (id %s)\n")
    doc = tmp_path / "error.json"
    doc.write_text('{"error": "%s", "id": "%s"}')
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    async with gateway_and_upstream(
        tmp_path,
        frontend,
        service="echo",
        routes={"r": "/x"},
        plugins="off",
        error_template_plain=str(plain),
        error_template_json=str(doc),
        proxy_listen=f"127.0.0.1:{port}",
        port_maps=f"80:{port}",
    ) as (gw, upstream):
        miss = await gw.proxy("GET", "/nothing", headers={"Accept": "text/plain"})
        assert miss.status == 404
        assert miss.body.decode().startswith("custom page: no Route matched with those values (id ")
        assert miss.header("x-kong-request-id") in miss.body.decode()
        as_json = await gw.proxy(
            "GET", "/", headers={"Host": "none.test", "Accept": "application/json"}
        )
        assert as_json.json["error"] == "no Route matched with those values"
        echoed = (await gw.proxy("GET", "/x")).json["headers"]
        assert echoed["x-forwarded-port"] == "80"


@pytest_twisted.ensureDeferred
async def test_grpc_routes_answer_as_kong_does_over_http1(env):
    """A gRPC route: a non-gRPC request gets 415, a gRPC one over HTTP/1.1 gets 426 (use HTTP/2)."""
    gw, upstream = env
    await _echo_route(gw, upstream, paths=["/pkg.Svc"], protocols=["grpc"])
    plain = await gw.proxy("POST", "/pkg.Svc/Call", data=b"x")
    assert plain.status == 415
    assert plain.json == {"message": "Non-gRPC request matched gRPC route"}
    grpc = await gw.proxy(
        "POST", "/pkg.Svc/Call", data=b"x", headers={"Content-Type": "application/grpc"}
    )
    assert grpc.status == 426
    assert grpc.json == {"message": "Please use HTTP2 protocol"}
    assert upstream.requests == []
