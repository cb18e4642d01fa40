"""ip-restriction end to end: both front-ends, real sockets, the Admin API."""

from __future__ import annotations

import pytest_twisted

from tests.integration.harness import gateway_and_upstream

PLUGINS = "ip-restriction,cors,bot-detection,request-size-limiting,request-termination"


@pytest_twisted.async_yield_fixture
async def env(tmp_path, frontend):
    async with gateway_and_upstream(
        tmp_path,
        frontend,
        plugins=PLUGINS,
        trusted_ips="127.0.0.1/32",
        real_ip_header="X-Forwarded-For",
        service="svc",
        routes={name: f"/{name}" for name in ("deny", "allow", "custom")},
    ) as pair:
        yield pair


@pytest_twisted.ensureDeferred
async def test_deny_allow_and_forwarded_ip(env):
    """deny wins over allow; the real client IP (X-Forwarded-For from a trusted peer) is checked."""
    gw, upstream = env
    reply = await gw.admin(
        "POST",
        "/routes/deny/plugins",
        {
            "name": "ip-restriction",
            "config": {
                "deny": ["10.0.0.0/8", "2001:db8::/32"],
                "allow": ["10.0.0.0/8", "127.0.0.1", "192.168.0.0/16"],
            },
        },
    )
    assert reply.status == 201, reply
    assert reply.json["protocols"] == ["http", "https", "tcp", "tls", "grpc", "grpcs"]
    reply = await gw.proxy("GET", "/deny")
    assert reply.status == 200, reply
    reply = await gw.proxy("GET", "/deny", headers={"X-Forwarded-For": "10.1.2.3"})
    assert reply.status == 403
    assert reply.json["message"] == "IP address not allowed: 10.1.2.3"
    assert len(reply.json["request_id"]) == 32
    reply = await gw.proxy("GET", "/deny", headers={"X-Forwarded-For": "2001:db8::5"})
    assert reply.status == 403
    reply = await gw.proxy("GET", "/deny", headers={"X-Forwarded-For": "172.16.0.1"})
    assert reply.status == 403
    reply = await gw.proxy("GET", "/deny", headers={"X-Forwarded-For": "192.168.3.4"})
    assert reply.status == 200
    assert len(upstream.requests) == 2


@pytest_twisted.ensureDeferred
async def test_allow_only_and_custom_status(env):
    """An allow list without the client refuses it, with custom status and message."""
    gw, upstream = env
    reply = await gw.admin(
        "POST",
        "/routes/custom/plugins",
        {
            "name": "ip-restriction",
            "config": {"allow": ["10.0.0.1"], "status": 401, "message": "no entry"},
        },
    )
    assert reply.status == 201, reply
    reply = await gw.proxy("GET", "/custom", headers={"Accept": "text/plain"})
    assert reply.status == 401
    assert reply.body.startswith(b"no entry\nrequest_id: ")
    reply = await gw.proxy("GET", "/custom", headers={"X-Forwarded-For": "10.0.0.1"})
    assert reply.status == 200
    assert upstream.requests[-1].headers.get("x-forwarded-for") == "10.0.0.1, 127.0.0.1"


@pytest_twisted.ensureDeferred
async def test_admin_validation_and_schema(env):
    """Bad configs are 400 schema violations; the schema endpoint describes the config."""
    gw, _ = env
    reply = await gw.admin("POST", "/plugins", {"name": "ip-restriction", "config": {}})
    assert reply.status == 400
    assert reply.json["name"] == "schema violation"
    assert reply.json["fields"]["@entity"] == [
        "at least one of these fields must be non-empty: 'config.allow', 'config.deny'"
    ]
    reply = await gw.admin(
        "POST", "/plugins", {"name": "ip-restriction", "config": {"allow": ["300.1.1.1"]}}
    )
    assert reply.status == 400
    assert reply.json["fields"]["config"]["allow"] == ["invalid ip or cidr range: '300.1.1.1'"]
    reply = await gw.admin("GET", "/schemas/plugins/ip-restriction")
    assert reply.status == 200
    names = [next(iter(f)) for f in reply.json["fields"]]
    assert "config" in names
