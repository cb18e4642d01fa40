"""key-auth end to end: Admin API credentials and config validation, the proxy on both front-ends."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest_twisted

PLUGINS = "key-auth,basic-auth,acl"
SERVICE = "echo"
ROUTES = {"r1": "/r1"}


async def _consumer_with_key(gw, username="alice", key=None):
    reply = await gw.admin(
        "POST", "/consumers", {"username": username, "custom_id": username + "-1"}
    )
    assert reply.status == 201, reply
    body = {"key": key} if key else {}
    reply = await gw.admin("POST", f"/consumers/{username}/key-auth", body)
    assert reply.status == 201, reply
    return reply.json


@pytest_twisted.ensureDeferred
async def test_key_auth_flow(env):
    """401 without/with a bad key, 200 with an auto-generated key and Kong's consumer headers upstream."""
    gw, _ = env
    reply = await gw.admin("POST", "/routes/r1/plugins", {"name": "key-auth"})
    assert reply.status == 201, reply
    cred = await _consumer_with_key(gw)
    assert re.fullmatch(r"[A-Za-z0-9]{32}", cred["key"])
    reply = await gw.proxy("GET", "/r1")
    assert reply.status == 401
    assert reply.json["message"] == "No API key found in request"
    assert reply.header("www-authenticate") == "Key"
    reply = await gw.proxy("GET", "/r1", headers={"apikey": "wrong"})
    assert (reply.status, reply.json["message"]) == (401, "Unauthorized")
    reply = await gw.proxy(
        "GET",
        "/r1",
        headers={
            "apikey": cred["key"],
            "X-Anonymous-Consumer": "true",
            "X-Consumer-Username": "forged",
        },
    )
    assert reply.status == 200, reply
    seen = reply.json["headers"]
    assert seen["x-consumer-username"] == "alice"
    assert seen["x-consumer-custom-id"] == "alice-1"
    assert seen["x-consumer-id"] == cred["consumer"]["id"]
    assert seen["x-credential-identifier"] == cred["id"]
    assert "x-anonymous-consumer" not in seen
    assert seen["apikey"] == cred["key"]
    reply = await gw.proxy(
        "GET", "/r1?" + urlencode([("apikey", cred["key"]), ("apikey", cred["key"])])
    )
    assert (reply.status, reply.json["message"]) == (401, "Duplicate API key found")


@pytest_twisted.ensureDeferred
async def test_hide_credentials_query_and_body(env):
    """hide_credentials strips the query arg (order kept) and the body field; key_in_body reads forms."""
    gw, _ = env
    reply = await gw.admin(
        "POST",
        "/routes/r1/plugins",
        {
            "name": "key-auth",
            "config": {"hide_credentials": True, "key_in_body": True, "realm": "kongtx"},
        },
    )
    assert reply.status == 201, reply
    await _consumer_with_key(gw, key="body-key-123")
    reply = await gw.proxy("GET", "/r1?z=1&apikey=body-key-123&a=2")
    assert reply.status == 200, reply
    assert reply.json["query"] == "z=1&a=2"
    reply = await gw.proxy(
        "POST",
        "/r1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        data=b"x=1&apikey=body-key-123&y=2",
    )
    assert reply.status == 200, reply
    assert reply.json["body"] == "x=1&y=2"
    reply = await gw.proxy(
        "POST", "/r1", headers={"Content-Type": "application/json"}, data=b'{"apikey": "no"}'
    )
    assert reply.status == 401
    assert reply.header("www-authenticate") == 'Key realm="kongtx"'


@pytest_twisted.ensureDeferred
async def test_scoping_most_specific_wins(env):
    """With key-auth on the service, the route and globally, the most specific config runs."""
    gw, _ = env
    await gw.admin("POST", "/services/echo/routes", {"name": "r2", "paths": ["/r2"]})
    reply = await gw.admin("POST", "/services", {"name": "other", "url": "http://127.0.0.1:9"})
    assert reply.status == 201
    await gw.admin("POST", "/services/other/routes", {"name": "r3", "paths": ["/r3"]})
    for path, names in (
        ("/plugins", ["global-key"]),
        ("/services/echo/plugins", ["svc-key"]),
        ("/routes/r1/plugins", ["route-key"]),
    ):
        reply = await gw.admin(
            "POST",
            path,
            {"name": "key-auth", "config": {"key_names": names, "key_in_query": False}},
        )
        assert reply.status == 201, reply
    cred = await _consumer_with_key(gw)
    assert (await gw.proxy("GET", "/r1", headers={"route-key": cred["key"]})).status == 200
    assert (await gw.proxy("GET", "/r1", headers={"svc-key": cred["key"]})).status == 401
    assert (await gw.proxy("GET", "/r2", headers={"svc-key": cred["key"]})).status == 200
    assert (await gw.proxy("GET", "/r2", headers={"route-key": cred["key"]})).status == 401
    # r3's service points nowhere: a 401 proves the global config ran, a 502 that it passed.
    assert (await gw.proxy("GET", "/r3", headers={"svc-key": cred["key"]})).status == 401
    assert (await gw.proxy("GET", "/r3", headers={"global-key": cred["key"]})).status == 502


@pytest_twisted.ensureDeferred
async def test_admin_api_credentials(env):
    """Credential CRUD: unique keys (409), lookup by key, ttl shown, consumer cascade."""
    gw, _ = env
    cred = await _consumer_with_key(gw, key="k-1")
    reply = await gw.admin("POST", "/consumers", {"username": "bob"})
    reply = await gw.admin("POST", "/consumers/bob/key-auth", {"key": "k-1"})
    assert reply.status == 409, reply
    assert reply.json["name"] == "unique constraint violation"
    reply = await gw.admin("GET", "/key-auths/k-1")
    assert reply.status == 200 and reply.json["id"] == cred["id"]
    reply = await gw.admin("GET", "/key-auths/k-1/consumer")
    assert reply.json["username"] == "alice"
    reply = await gw.admin("POST", "/consumers/bob/key-auth", {"key": "temp", "ttl": 1000})
    assert reply.status == 201, reply
    reply = await gw.admin("GET", "/consumers/bob/key-auth/temp")
    assert 990 <= reply.json["ttl"] <= 1000
    reply = await gw.admin("GET", "/key-auths")
    assert sorted(r["key"] for r in reply.json["data"]) == ["k-1", "temp"]
    assert (await gw.admin("DELETE", "/consumers/alice")).status == 204
    assert (await gw.admin("GET", "/key-auths/k-1")).status == 404


@pytest_twisted.ensureDeferred
async def test_config_validation(env):
    """The schema is served; bad configs and consumer scoping are 400 schema violations."""
    gw, _ = env
    reply = await gw.admin("GET", "/schemas/plugins/key-auth")
    assert reply.status == 200
    config = next(f["config"] for f in reply.json["fields"] if "config" in f)
    names = [next(iter(f)) for f in config["fields"]]
    assert names[:3] == ["key_names", "hide_credentials", "anonymous"]
    reply = await gw.admin(
        "POST", "/plugins", {"name": "key-auth", "config": {"key_names": ["bad name"]}}
    )
    assert reply.status == 400 and reply.json["code"] == 2
    assert "config.key_names" in reply.json["message"]
    reply = await gw.admin(
        "POST", "/plugins", {"name": "key-auth", "config": {"run_on_preflight": "x"}}
    )
    assert reply.status == 400
    await gw.admin("POST", "/consumers", {"username": "carol"})
    reply = await gw.admin("POST", "/consumers/carol/plugins", {"name": "key-auth"})
    assert reply.status == 400
    assert reply.json["fields"]["consumer"] == "value must be null"
