"""basic-auth end to end, plus AND/OR combinations with key-auth and a no-secrets-in-logs check."""

from __future__ import annotations

import base64

import pytest_twisted
from twisted.logger import formatEvent, globalLogPublisher

from kongtx.plugins.basic_auth import crypto
from tests.integration.harness import gateway_and_upstream

PLUGINS = "key-auth,basic-auth,acl"


@pytest_twisted.async_yield_fixture
async def env(tmp_path, frontend, monkeypatch):
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)
    async with gateway_and_upstream(
        tmp_path, frontend, plugins=PLUGINS, service="echo", routes={"r1": "/r1"}
    ) as pair:
        yield pair


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def _user(gw, username, login, password):
    reply = await gw.admin("POST", "/consumers", {"username": username})
    assert reply.status == 201, reply
    reply = await gw.admin(
        "POST", f"/consumers/{username}/basic-auth", {"username": login, "password": password}
    )
    assert reply.status == 201, reply
    return reply.json


@pytest_twisted.ensureDeferred
async def test_basic_auth_flow(env):
    """401 + WWW-Authenticate on failures; success sends consumer headers; hide_credentials strips them."""
    gw, _ = env
    reply = await gw.admin(
        "POST", "/routes/r1/plugins", {"name": "basic-auth", "config": {"hide_credentials": True}}
    )
    assert reply.status == 201, reply
    cred = await _user(gw, "bob", "bob-login", "p:ss")
    for headers in (
        {},
        {"Authorization": basic("bob-login", "nope")},
        {"Authorization": "Basic %%%"},
    ):
        reply = await gw.proxy("GET", "/r1", headers=headers)
        assert reply.status == 401, reply
        assert reply.json["message"] == "Unauthorized"
        assert reply.header("www-authenticate") == 'Basic realm="service"'
    for header in ("Authorization", "Proxy-Authorization"):
        reply = await gw.proxy("GET", "/r1", headers={header: basic("bob-login", "p:ss")})
        assert reply.status == 200, reply
        seen = reply.json["headers"]
        assert seen["x-consumer-username"] == "bob"
        assert seen["x-credential-identifier"] == "bob-login"
        assert header.lower() not in seen
        assert cred["consumer"]["id"] == seen["x-consumer-id"]


@pytest_twisted.ensureDeferred
async def test_password_stored_hashed(env):
    """The Admin API returns a bcrypt hash; PATCH keeps or replaces it; the old password stops working."""
    gw, _ = env
    await gw.admin("POST", "/routes/r1/plugins", {"name": "basic-auth"})
    cred = await _user(gw, "bob", "bob-login", "first")
    assert cred["password"] != "first" and crypto.is_hashed(cred["password"])
    reply = await gw.admin("GET", "/basic-auths/bob-login")
    assert reply.json["password"] == cred["password"]
    assert (
        await gw.proxy("GET", "/r1", headers={"Authorization": basic("bob-login", "first")})
    ).status == 200
    reply = await gw.admin("PATCH", f"/basic-auths/{cred['id']}", {"username": "bob2"})
    assert reply.status == 200 and reply.json["password"] == cred["password"]
    assert (
        await gw.proxy("GET", "/r1", headers={"Authorization": basic("bob2", "first")})
    ).status == 200
    reply = await gw.admin("PATCH", f"/basic-auths/{cred['id']}", {"password": "second"})
    assert reply.status == 200 and reply.json["password"] != cred["password"]
    assert (
        await gw.proxy("GET", "/r1", headers={"Authorization": basic("bob2", "first")})
    ).status == 401
    assert (
        await gw.proxy("GET", "/r1", headers={"Authorization": basic("bob2", "second")})
    ).status == 200
    reply = await gw.admin(
        "POST", "/consumers/bob/basic-auth", {"username": "bob2", "password": "x"}
    )
    assert reply.status == 409
    reply = await gw.admin("POST", "/consumers/bob/basic-auth", {"username": "u3"})
    assert reply.status == 400 and reply.json["fields"]["password"] == "required field missing"


async def _both_plugins(gw, anonymous):
    config = {"anonymous": anonymous} if anonymous else {}
    for name in ("key-auth", "basic-auth"):
        reply = await gw.admin("POST", "/routes/r1/plugins", {"name": name, "config": config})
        assert reply.status == 201, reply
    key = (await gw.admin("POST", "/consumers", {"username": "alice"})).json
    reply = await gw.admin("POST", "/consumers/alice/key-auth", {"key": "alice-key"})
    assert reply.status == 201
    await _user(gw, "bob", "bob-login", "pw")
    return key


@pytest_twisted.ensureDeferred
async def test_and_without_anonymous(env):
    """Without anonymous both plugins must pass; the last one to run names the consumer."""
    gw, _ = env
    await _both_plugins(gw, None)
    assert (await gw.proxy("GET", "/r1", headers={"apikey": "alice-key"})).status == 401
    assert (
        await gw.proxy("GET", "/r1", headers={"Authorization": basic("bob-login", "pw")})
    ).status == 401
    assert (await gw.proxy("GET", "/r1")).status == 401
    reply = await gw.proxy(
        "GET", "/r1", headers={"apikey": "alice-key", "Authorization": basic("bob-login", "pw")}
    )
    assert reply.status == 200, reply
    assert (
        reply.json["headers"]["x-consumer-username"] == "bob"
    )  # basic-auth (1100) runs after key-auth


@pytest_twisted.ensureDeferred
async def test_or_with_anonymous(env):
    """With anonymous on both, either credential passes, none gives the anonymous consumer."""
    gw, _ = env
    reply = await gw.admin("POST", "/consumers", {"username": "guest"})
    await _both_plugins(gw, reply.json["id"])
    reply = await gw.proxy("GET", "/r1", headers={"apikey": "alice-key"})
    assert reply.status == 200 and reply.json["headers"]["x-consumer-username"] == "alice"
    assert "x-anonymous-consumer" not in reply.json["headers"]
    reply = await gw.proxy("GET", "/r1", headers={"Authorization": basic("bob-login", "pw")})
    assert reply.status == 200 and reply.json["headers"]["x-consumer-username"] == "bob"
    assert reply.json["headers"]["x-credential-identifier"] == "bob-login"
    reply = await gw.proxy(
        "GET", "/r1", headers={"apikey": "bad", "Authorization": basic("bob-login", "bad")}
    )
    assert reply.status == 200
    assert reply.json["headers"]["x-consumer-username"] == "guest"
    assert reply.json["headers"]["x-anonymous-consumer"] == "true"
    assert "x-credential-identifier" not in reply.json["headers"]
    # An acl that only lets real users in then blocks the anonymous consumer.
    await gw.admin("POST", "/consumers/alice/acls", {"group": "users"})
    await gw.admin("POST", "/routes/r1/plugins", {"name": "acl", "config": {"allow": ["users"]}})
    assert (await gw.proxy("GET", "/r1")).status == 403
    assert (await gw.proxy("GET", "/r1", headers={"apikey": "alice-key"})).status == 200


@pytest_twisted.ensureDeferred
async def test_missing_anonymous_consumer_is_500(env):
    """An anonymous consumer that does not exist answers 500 with Kong's message."""
    gw, _ = env
    await gw.admin(
        "POST", "/routes/r1/plugins", {"name": "basic-auth", "config": {"anonymous": "ghost"}}
    )
    reply = await gw.proxy("GET", "/r1")
    assert reply.status == 500
    assert reply.json["message"] == "anonymous consumer ghost is configured but doesn't exist"


@pytest_twisted.ensureDeferred
async def test_no_secret_in_logs(env):
    """Failed and successful authentications log neither passwords nor API keys."""
    gw, _ = env
    await gw.admin("POST", "/consumers", {"username": "guest"})
    await gw.admin(
        "POST", "/routes/r1/plugins", {"name": "key-auth", "config": {"anonymous": "guest"}}
    )
    await gw.admin("POST", "/routes/r1/plugins", {"name": "basic-auth"})
    await gw.admin("POST", "/services/echo/routes", {"name": "r2", "paths": ["/r2"]})
    await gw.admin(
        "POST", "/routes/r2/plugins", {"name": "basic-auth", "config": {"anonymous": "ghost"}}
    )
    await _user(gw, "bob", "bob-login", "Sup3r-Secret-Pw")
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    wrong = {"Authorization": basic("bob-login", "Wr0ng-Secret-Pw"), "apikey": "Leaky-Key-42"}
    right = {"Authorization": basic("bob-login", "Sup3r-Secret-Pw"), "apikey": "Leaky-Key-42"}
    try:
        assert (await gw.proxy("GET", "/r1", headers=wrong)).status == 401
        assert (await gw.proxy("GET", "/r1", headers=right)).status == 200
        assert (await gw.proxy("GET", "/r2", headers=wrong)).status == 500
    finally:
        globalLogPublisher.removeObserver(events.append)
    text = "\n".join((formatEvent(e) or "") + repr(e) for e in events)
    assert "anonymous consumer ghost is configured but doesn't exist" in text  # the capture works
    for secret in (
        "Sup3r-Secret-Pw",
        "Wr0ng-Secret-Pw",
        "Leaky-Key-42",
        base64.b64encode(b"bob-login:Wr0ng-Secret-Pw").decode(),
    ):
        assert secret not in text
