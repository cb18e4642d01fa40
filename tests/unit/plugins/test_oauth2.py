"""Unit tests of oauth2: every grant's edge cases through the real flows and handler over a
real DAO on the in-memory backend and the real entity cache, on a fake clock (no sockets)."""

from __future__ import annotations

from typing import Any

import pytest_twisted
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from kongtx.cache import Entities, EntityCache
from kongtx.errors import ProxyExit
from kongtx.plugins.base import load_plugins
from kongtx.plugins.basic_auth import crypto
from kongtx.plugins.oauth2 import flows
from kongtx.plugins.oauth2.daos import OAUTH2_CREDENTIALS
from kongtx.plugins.oauth2.handler import OAuth2Handler as Handler
from kongtx.plugins.oauth2.handler import find_endpoint
from kongtx.plugins.oauth2.schema import CONFIG
from kongtx.plugins.oauth2.store import EntityStore
from kongtx.plugins.testing import make_context, make_node
from kongtx.schema.fields import fill_record
from kongtx.store.dao import DAO
from kongtx.store.memory import MemoryBackend

load_plugins(["oauth2"])
NOW = 1_700_000_000
SERVICE = {"id": "11111111-1111-4111-8111-111111111111"}
OTHER = {"id": "22222222-2222-4222-8222-222222222222"}
REDIRECT = "https://app.example/cb"


def conf(**overrides: Any) -> dict[str, Any]:
    base = {
        "enable_authorization_code": True,
        "enable_client_credentials": True,
        "enable_password_grant": True,
        "enable_implicit_grant": True,
    }
    base.update(overrides)
    return fill_record(CONFIG.fields, base)


class World:
    """A DAO on the memory backend, the entity cache over it, a fake clock."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.dao = DAO(MemoryBackend(), self.clock)
        self.entities = Entities(EntityCache(self.clock), self.dao)
        self.dao.add_change_listener(self.entities.on_change)
        self.store = EntityStore(self.entities)

    async def setup(self, **cred: Any) -> dict[str, Any]:
        for service in (SERVICE, OTHER):
            await self.dao.insert("services", {"id": service["id"], "host": "up.example"})
        consumer = await self.dao.insert("consumers", {"username": "owner"})
        data = {
            "name": "app",
            "client_secret": "secret",
            "redirect_uris": [REDIRECT],
            "consumer": {"id": consumer["id"]},
        }
        data.update(cred)
        return await self.dao.insert("oauth2_credentials", data)

    def request(
        self,
        params: dict[str, Any],
        *,
        service: dict[str, Any] = SERVICE,
        https: bool = True,
        authorization: str | None = None,
    ) -> flows.OAuthRequest:
        return flows.OAuthRequest(
            params, authorization, https, None, service["id"], int(self.clock.seconds())
        )

    async def token(self, config: dict[str, Any], cred: dict[str, Any], service=SERVICE, **extra):
        params = {
            "grant_type": "password",
            "client_id": cred["client_id"],
            "client_secret": "secret",
            "provision_key": config["provision_key"],
            "authenticated_userid": "u1",
        }
        params.update(extra)
        status, body, _ = await flows.issue_token(
            self.store, config, self.request(params, service=service)
        )
        assert status == 200, body
        return body

    async def access(self, config: dict[str, Any], token: str, service=SERVICE) -> Any:
        ctx = make_context(
            headers=[("Authorization", f"Bearer {token}")],
            entities=self.entities,
            clock=self.clock,
            service=service,
            route={"id": "r"},
        )
        try:
            result = Handler().access(ctx, config)
            if isinstance(result, Deferred):
                await result
        except ProxyExit as exc:
            return exc
        return ctx


@pytest_twisted.ensureDeferred
async def test_token_expiry_on_the_clock():
    """expires_in counts from created_at: valid at the limit, invalid one second later."""
    world = World()
    cred = await world.setup()
    config = conf(token_expiration=10)
    body = await world.token(config, cred)
    assert body["expires_in"] == 10
    world.clock.advance(10)
    ctx = await world.access(config, body["access_token"])
    assert not isinstance(ctx, ProxyExit), ctx.body
    assert ctx.request.headers.get("x-authenticated-userid") == "u1"
    world.clock.advance(1)
    exc = await world.access(config, body["access_token"])
    assert isinstance(exc, ProxyExit) and exc.body["error"] == "invalid_token"


@pytest_twisted.ensureDeferred
async def test_reuse_and_persistent_refresh_tokens():
    """reuse_refresh_token keeps the row and refresh token; persistent_refresh_token moves it."""
    world = World()
    cred = await world.setup()
    for option in ("reuse_refresh_token", "persistent_refresh_token", None):
        config = conf(**({option: True} if option else {}))
        first = await world.token(config, cred)
        second = await world.token(
            config, cred, grant_type="refresh_token", refresh_token=first["refresh_token"]
        )
        assert second["access_token"] != first["access_token"]
        same = second["refresh_token"] == first["refresh_token"]
        assert same is (option is not None), option
        old = await world.access(config, first["access_token"])
        assert isinstance(old, ProxyExit), option
        assert not isinstance(await world.access(config, second["access_token"]), ProxyExit)
        rows = await world.dao.page("oauth2_tokens")
        refreshes = [r["refresh_token"] for r in rows.rows]
        assert (
            first["refresh_token"] in refreshes if same else first["refresh_token"] not in refreshes
        )


@pytest_twisted.ensureDeferred
async def test_refresh_errors_and_service_binding():
    """Unknown refresh token, another client's, another service's; codes bound to services."""
    world = World()
    cred = await world.setup()
    config = conf()
    first = await world.token(config, cred)
    for extra, service, error in (
        ({"refresh_token": "nope"}, SERVICE, "Invalid refresh_token"),
        ({"refresh_token": first["refresh_token"]}, OTHER, "Invalid refresh_token"),
    ):
        params = {
            "grant_type": "refresh_token",
            "client_id": cred["client_id"],
            "client_secret": "secret",
            **extra,
        }
        status, body, _ = await flows.issue_token(
            world.store, config, world.request(params, service=service)
        )
        assert (status, body["error_description"]) == (400, error)
    # The token does not open another service's plugin.
    exc = await world.access(config, first["access_token"], service=OTHER)
    assert isinstance(exc, ProxyExit) and exc.body["error"] == "invalid_token"


@pytest_twisted.ensureDeferred
async def test_global_credentials():
    """A global token works on every global plugin; on a non-global one Kong's message."""
    world = World()
    cred = await world.setup()
    body = await world.token(conf(global_credentials=True), cred)
    ok = await world.access(conf(global_credentials=True), body["access_token"], service=OTHER)
    assert not isinstance(ok, ProxyExit)
    exc = await world.access(conf(), body["access_token"])
    assert isinstance(exc, ProxyExit)
    assert exc.body["error_description"] == (
        "The access token is global, but the current plugin is configured without "
        "'global_credentials'"
    )


@pytest_twisted.ensureDeferred
async def test_hash_secret(monkeypatch):
    """hash_secret stores bcrypt; the token endpoint verifies against it."""
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)
    world = World()
    cred = await world.setup(hash_secret=True)
    assert crypto.is_hashed(cred["client_secret"])
    config = conf()
    assert "access_token" in await world.token(config, cred)
    params = {
        "grant_type": "client_credentials",
        "client_id": cred["client_id"],
        "client_secret": "bad",
    }
    status, body, _ = await flows.issue_token(world.store, config, world.request(params))
    assert (status, body["error"]) == (400, "invalid_client")


@pytest_twisted.ensureDeferred
async def test_authorize_errors():
    """provision_key, authenticated_userid, unknown client, redirect_uri mismatch, response_type, HTTPS."""
    world = World()
    cred = await world.setup()
    config = conf(enable_implicit_grant=False)
    base = {
        "provision_key": config["provision_key"],
        "authenticated_userid": "u",
        "client_id": cred["client_id"],
        "response_type": "code",
    }
    cases = [
        (
            {"provision_key": "x"},
            400,
            {"error": "invalid_provision_key", "error_description": "Invalid provision_key"},
        ),
        (
            {"authenticated_userid": "  "},
            400,
            {
                "error": "invalid_authenticated_userid",
                "error_description": "Missing authenticated_userid parameter",
            },
        ),
        (
            {"client_id": "nobody"},
            400,
            {"error": "invalid_client", "error_description": "Invalid client authentication"},
        ),
    ]
    for change, status, body in cases:
        got = await flows.authorize(world.store, config, world.request({**base, **change}))
        assert got[:2] == (status, body)
    status, body, headers = await flows.authorize(
        world.store,
        config,
        world.request({**base, "redirect_uri": "https://evil.example/", "state": "s"}),
    )
    assert status == 400
    assert body["redirect_uri"].startswith(
        REDIRECT + "?error=invalid_request&error_description=Invalid"
    )
    assert body["redirect_uri"].endswith("&state=s")
    status, body, _ = await flows.authorize(
        world.store, config, world.request({**base, "response_type": "token"})
    )
    assert status == 400 and "unsupported_response_type" in body["redirect_uri"]
    status, body, _ = await flows.authorize(world.store, config, world.request(base, https=False))
    assert (status, body) == (
        400,
        {"error": "access_denied", "error_description": "You must use HTTPS"},
    )
    status, body, _ = await flows.authorize(
        world.store, {**config, "pkce": "strict"}, world.request(base)
    )
    assert "code_challenge+is+required" in body["redirect_uri"]
    status, body, _ = await flows.authorize(
        world.store,
        config,
        world.request({**base, "code_challenge_method": "plain", "code_challenge": "x"}),
    )
    assert "code_challenge_method+is+not+supported" in body["redirect_uri"]


@pytest_twisted.ensureDeferred
async def test_code_for_another_service_or_client():
    world = World()
    cred = await world.setup()
    config = conf()
    base = {
        "provision_key": config["provision_key"],
        "authenticated_userid": "u",
        "client_id": cred["client_id"],
        "response_type": "code",
    }
    _, body, _ = await flows.authorize(world.store, config, world.request(base))
    code = body["redirect_uri"].split("code=")[1]
    params = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": cred["client_id"],
        "client_secret": "secret",
    }
    status, body, _ = await flows.issue_token(
        world.store, config, world.request(params, service=OTHER)
    )
    assert (status, body["error_description"]) == (400, "Invalid code")
    status, body, _ = await flows.issue_token(world.store, config, world.request(params))
    assert status == 200 and body["refresh_token"]


@pytest_twisted.ensureDeferred
async def test_terminated_https_from_trusted_proxy():
    """accept_http_if_already_terminated: X-Forwarded-Proto https from a trusted IP only."""
    world = World()
    await world.setup()
    handler = Handler()
    handler.init_worker(make_node({"trusted_ips": "10.0.0.0/8"}, world.clock))
    config = conf(accept_http_if_already_terminated=True)
    for ip, headers, expected in (
        ("10.1.2.3", [("X-Forwarded-Proto", "https")], (True, None)),
        ("192.0.2.1", [("X-Forwarded-Proto", "https")], (False, None)),
        (
            "10.1.2.3",
            [("X-Forwarded-Proto", "https"), ("X-Forwarded-Proto", "http")],
            (False, "Only one X-Forwarded-Proto header allowed"),
        ),
    ):
        ctx = make_context(
            headers=headers, client_ip=ip, entities=world.entities, clock=world.clock
        )
        assert handler._https(ctx, config) == expected
    ctx = make_context(headers=[("X-Forwarded-Proto", "https")], client_ip="10.1.2.3")
    assert handler._https(ctx, conf()) == (False, None)


def test_find_endpoint_and_schemas():
    assert find_endpoint("/api/oauth2/token") == "token"
    assert find_endpoint("/api/oauth2/token/") == "token"
    assert find_endpoint("/oauth2/authorize") == "authorization"
    assert find_endpoint("/oauth2/tokens") is None
    errors = OAUTH2_CREDENTIALS.errors(
        OAUTH2_CREDENTIALS.fill_defaults(
            {
                "consumer": {"id": SERVICE["id"]},
                "name": "x",
                "redirect_uris": ["https://a.example/#frag", "nope"],
                "client_type": "other",
            },
            NOW,
        )
    )
    assert errors["redirect_uris"] == [
        "fragment not allowed in 'https://a.example/#frag'",
        "cannot parse 'nope'",
    ]
    assert "client_type" in errors
    assert CONFIG.validate(fill_record(CONFIG.fields, {})) == (
        "at least one of these fields must be true: enable_authorization_code, "
        "enable_implicit_grant, enable_client_credentials, enable_password_grant"
    )
    mandatory = CONFIG.validate(
        fill_record(CONFIG.fields, {"mandatory_scope": True, "enable_password_grant": True})
    )
    assert mandatory["scopes"] == "required field missing"
    assert (
        fill_record(CONFIG.fields, {})["provision_key"]
        != fill_record(CONFIG.fields, {})["provision_key"]
    )


def test_challenges_and_or_early_exit():
    """WWW-Authenticate as Kong builds it; an earlier credential (OR) leaves no token headers."""
    from kongtx.plugins.oauth2.handler import _challenge

    assert _challenge({}) == "Bearer"
    assert _challenge({"realm": "k"}, "invalid_token", "x") == (
        'Bearer realm="k" error="invalid_token" error_description="x"'
    )
    ctx = make_context(
        headers=[("X-Authenticated-Scope", "forged"), ("X-Authenticated-UserId", "f")]
    )
    ctx.authenticate({"id": "c"}, {"id": "k"})
    assert Handler().access(ctx, conf(anonymous="guest")) is None
    assert "x-authenticated-scope" not in ctx.request.headers
    assert "x-authenticated-userid" not in ctx.request.headers


@pytest_twisted.ensureDeferred
async def test_token_expiration_zero_never_expires():
    """token_expiration 0: no expires_in, no refresh token, valid forever (no row ttl)."""
    world = World()
    cred = await world.setup()
    config = conf(token_expiration=0)
    body = await world.token(config, cred)
    assert "expires_in" not in body and "refresh_token" not in body
    world.clock.advance(10 * 365 * 86400)
    ctx = await world.access(config, body["access_token"])
    assert not isinstance(ctx, ProxyExit)
