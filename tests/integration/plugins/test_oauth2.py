"""oauth2 end to end over HTTPS, every grant driven by oauthlib's client classes.

The gateway's proxy_ssl listener (its default self-signed certificate) is
called through an agent that does not verify it; oauthlib builds the request
URIs and bodies and parses (and validates) the answers.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest_twisted
import treq
from oauthlib.oauth2 import (
    BackendApplicationClient,
    LegacyApplicationClient,
    MobileApplicationClient,
    WebApplicationClient,
)
from twisted.internet import reactor
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from kongtx import tls
from tests.integration.harness import Reply, gateway_and_upstream

PLUGINS = "oauth2,key-auth"
REDIRECT = "https://app.example/cb"


@implementer(IPolicyForHTTPS)
class _NoVerify:
    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        return tls.upstream_tls_creator(None)


class Https:
    """Requests to the gateway's HTTPS proxy port."""

    def __init__(self, gw: Any) -> None:
        self.base = f"https://127.0.0.1:{gw.proxy_ssl_port}"
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.agent = Agent(reactor, contextFactory=_NoVerify(), pool=self.pool)

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        headers = dict(headers or {})
        if body is not None:
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        response = await treq.request(
            method,
            self.base + path if path.startswith("/") else path,
            headers=headers,
            data=body.encode() if body is not None else None,
            agent=self.agent,
        )
        content = await response.content()
        raw = {
            n.decode().lower(): [v.decode("latin-1") for v in vs]
            for n, vs in response.headers.getAllRawHeaders()
        }
        return Reply(response.code, raw, content)


@pytest_twisted.async_yield_fixture
async def env(tmp_path):
    async with gateway_and_upstream(
        tmp_path, "native", plugins=PLUGINS, service="echo", routes={"r1": "/r1"}
    ) as (gw, upstream):
        https = Https(gw)
        gw.upstream = upstream
        yield gw, https
        await https.pool.closeCachedConnections()


async def setup(gw: Any, **config: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    base = {
        "enable_authorization_code": True,
        "enable_implicit_grant": True,
        "enable_client_credentials": True,
        "enable_password_grant": True,
        "scopes": ["email", "profile"],
    }
    base.update(config)
    reply = await gw.admin("POST", "/routes/r1/plugins", {"name": "oauth2", "config": base})
    assert reply.status == 201, reply
    plugin = reply.json
    await gw.admin("POST", "/consumers", {"username": "app-owner"})
    reply = await gw.admin(
        "POST",
        "/consumers/app-owner/oauth2",
        {"name": "My App", "client_secret": "s3cr3t-app", "redirect_uris": [REDIRECT]},
    )
    assert reply.status == 201, reply
    return plugin["config"], reply.json


async def authorize(https: Https, client: Any, provision_key: str, **params: Any) -> Reply:
    uri = client.prepare_request_uri(
        https.base + "/r1/oauth2/authorize", redirect_uri=REDIRECT, **params
    )
    body = urlencode({"provision_key": provision_key, "authenticated_userid": "user-42"})
    return await https.request("POST", uri, body=body)


@pytest_twisted.ensureDeferred
async def test_authorization_code_with_pkce_and_refresh(env):
    """Code grant with PKCE, then the token on the API, then refresh (old token gone)."""
    gw, https = env
    config, cred = await setup(gw)
    client = WebApplicationClient(cred["client_id"])
    verifier = client.create_code_verifier(64)
    challenge = client.create_code_challenge(verifier, "S256")
    reply = await authorize(
        https,
        client,
        config["provision_key"],
        scope=["email"],
        state="xyz",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    assert reply.status == 200, reply
    assert reply.header("cache-control") == "no-store"
    redirect = reply.json["redirect_uri"]
    assert redirect.startswith(REDIRECT + "?code=")
    code = client.parse_request_uri_response(redirect, state="xyz")["code"]
    body = client.prepare_request_body(
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
        client_secret=cred["client_secret"],
        include_client_id=True,
    )
    reply = await https.request("POST", "/r1/oauth2/token", body=body)
    assert reply.status == 200, reply
    token = client.parse_request_body_response(reply.body.decode())
    assert token["expires_in"] == 7200 and token["refresh_token"]
    reply = await gw.proxy(
        "GET", "/r1", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert reply.status == 200, reply
    seen = reply.json["headers"]
    assert seen["x-consumer-username"] == "app-owner"
    assert seen["x-credential-identifier"] == cred["client_id"]
    assert seen["x-authenticated-scope"] == "email"
    assert seen["x-authenticated-userid"] == "user-42"
    # The code was used up.
    reply = await https.request("POST", "/r1/oauth2/token", body=body)
    assert (reply.status, reply.json["error_description"]) == (400, "Invalid code")
    # Refresh: a new token, the old one no longer works.
    body = client.prepare_refresh_body(
        refresh_token=token["refresh_token"],
        client_id=cred["client_id"],
        client_secret=cred["client_secret"],
    )
    reply = await https.request("POST", "/r1/oauth2/token", body=body)
    assert reply.status == 200, reply
    fresh = client.parse_request_body_response(reply.body.decode())
    assert fresh["access_token"] != token["access_token"]
    assert fresh["refresh_token"] != token["refresh_token"]
    old = await gw.proxy("GET", "/r1", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert old.status == 401 and old.json["error"] == "invalid_token"
    new = await gw.proxy("GET", f"/r1?access_token={fresh['access_token']}")
    assert new.status == 200
    listed = (await gw.admin("GET", "/oauth2_tokens")).json["data"]
    assert [t["access_token"] for t in listed] == [fresh["access_token"]]


@pytest_twisted.ensureDeferred
async def test_pkce_failures(env):
    """A public client needs a challenge; a wrong or short verifier is refused."""
    gw, https = env
    config, _ = await setup(gw)
    reply = await gw.admin(
        "POST",
        "/consumers/app-owner/oauth2",
        {"name": "SPA", "client_type": "public", "redirect_uris": [REDIRECT]},
    )
    public = reply.json
    client = WebApplicationClient(public["client_id"])
    reply = await authorize(https, client, config["provision_key"])
    assert reply.status == 400
    assert "code_challenge+is+required+for+public+clients" in reply.json["redirect_uri"]
    verifier = client.create_code_verifier(50)
    challenge = client.create_code_challenge(verifier, "S256")
    reply = await authorize(
        https,
        client,
        config["provision_key"],
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    code = client.parse_request_uri_response(reply.json["redirect_uri"])["code"]
    for verifier_sent, error, description in (
        (None, "invalid_request", "code_verifier is required for PKCE authorization requests"),
        ("short", "invalid_request", "code_verifier must be between 43 and 128 characters"),
        ("x" * 50, "invalid_grant", "Invalid code"),
    ):
        params = {"code": code, "redirect_uri": REDIRECT}
        if verifier_sent is not None:
            params["code_verifier"] = verifier_sent
        body = client.prepare_request_body(include_client_id=True, **params)
        reply = await https.request("POST", "/r1/oauth2/token", body=body)
        assert (reply.status, reply.json["error"], reply.json["error_description"]) == (
            400,
            error,
            description,
        )
    body = client.prepare_request_body(
        code=code, redirect_uri=REDIRECT, code_verifier=verifier, include_client_id=True
    )
    body += "&client_secret=nope"
    reply = await https.request("POST", "/r1/oauth2/token", body=body)
    assert reply.json["error_description"] == "client_secret is disallowed for public clients"
    body = client.prepare_request_body(
        code=code, redirect_uri=REDIRECT, code_verifier=verifier, include_client_id=True
    )
    reply = await https.request("POST", "/r1/oauth2/token", body=body)
    assert reply.status == 200, reply


@pytest_twisted.ensureDeferred
async def test_client_credentials_password_and_implicit(env):
    """client_credentials (Basic auth, no refresh), password (provision_key), implicit (fragment)."""
    gw, https = env
    config, cred = await setup(gw, token_expiration=5, mandatory_scope=True)
    backend = BackendApplicationClient(cred["client_id"])
    body = backend.prepare_request_body(scope=["profile"])
    import base64

    basic = base64.b64encode(f"{cred['client_id']}:{cred['client_secret']}".encode()).decode()
    reply = await https.request(
        "POST", "/r1/oauth2/token", body=body, headers={"Authorization": f"Basic {basic}"}
    )
    assert reply.status == 200, reply
    token = backend.parse_request_body_response(reply.body.decode())
    assert "refresh_token" not in token and token["expires_in"] == 5
    wrong = base64.b64encode(f"{cred['client_id']}:nope".encode()).decode()
    reply = await https.request(
        "POST", "/r1/oauth2/token", body=body, headers={"Authorization": f"Basic {wrong}"}
    )
    assert (reply.status, reply.json["error"]) == (401, "invalid_client")
    assert reply.header("www-authenticate") == 'Basic realm="OAuth2.0"'
    legacy = LegacyApplicationClient(cred["client_id"])
    for extra, error in (
        ({"provision_key": "bad", "authenticated_userid": "u"}, "invalid_provision_key"),
        ({"provision_key": config["provision_key"]}, "invalid_authenticated_userid"),
    ):
        body = legacy.prepare_request_body(
            "alice",
            "pw",
            scope=["email"],
            include_client_id=True,
            client_secret=cred["client_secret"],
            **extra,
        )
        reply = await https.request("POST", "/r1/oauth2/token", body=body)
        assert (reply.status, reply.json["error"]) == (400, error)
    body = legacy.prepare_request_body(
        "alice",
        "pw",
        include_client_id=True,
        client_secret=cred["client_secret"],
        provision_key=config["provision_key"],
        authenticated_userid="alice",
    )
    reply = await https.request("POST", "/r1/oauth2/token", body=body)
    assert (reply.status, reply.json["error_description"]) == (400, "You must specify a scope")
    body = legacy.prepare_request_body(
        "alice",
        "pw",
        scope=["email", "profile"],
        include_client_id=True,
        client_secret=cred["client_secret"],
        provision_key=config["provision_key"],
        authenticated_userid="alice",
    )
    reply = await https.request("POST", "/r1/oauth2/token", body=body)
    assert reply.status == 200, reply
    token = legacy.parse_request_body_response(reply.body.decode())
    assert token["refresh_token"]
    seen = (
        await gw.proxy("GET", "/r1", headers={"Authorization": f"token {token['access_token']}"})
    ).json
    assert seen["headers"]["x-authenticated-scope"] == "email profile"
    mobile = MobileApplicationClient(cred["client_id"])
    reply = await authorize(https, mobile, config["provision_key"], scope=["email"], state="s1")
    assert reply.status == 200, reply
    fragment = urlsplit(reply.json["redirect_uri"]).fragment
    assert fragment.startswith("access_token=") and "refresh_token" not in fragment
    implicit = mobile.parse_request_uri_response(
        reply.json["redirect_uri"], state="s1", scope=["email"]
    )
    assert (await gw.proxy("GET", f"/r1?access_token={implicit['access_token']}")).status == 200
    reply = await authorize(https, mobile, config["provision_key"], scope=["admin"])
    assert "%22admin%22+is+an+invalid+scope" in reply.json["redirect_uri"]


@pytest_twisted.ensureDeferred
async def test_https_only_and_methods(env):
    """The endpoints need HTTPS (Kong's access_denied) and POST (405)."""
    gw, https = env
    _, cred = await setup(gw)
    reply = await gw.proxy("POST", "/r1/oauth2/token", data={"grant_type": "client_credentials"})
    assert (reply.status, reply.json) == (
        400,
        {"error": "access_denied", "error_description": "You must use HTTPS"},
    )
    reply = await https.request("GET", "/r1/oauth2/token")
    assert reply.status == 405
    assert reply.json == {
        "error": "invalid_method",
        "error_description": "The HTTP method GET is invalid for the token endpoint",
    }
    reply = await https.request("PUT", "/r1/oauth2/authorize/")
    assert (
        reply.json["error_description"]
        == "The HTTP method PUT is invalid for the authorization endpoint"
    )
    # Kong: an unknown client overrides the grant type error.
    reply = await https.request("POST", "/r1/oauth2/token", body="grant_type=magic")
    assert reply.json["error"] == "invalid_client"
    body = urlencode(
        {
            "grant_type": "magic",
            "client_id": cred["client_id"],
            "client_secret": cred["client_secret"],
        }
    )
    reply = await https.request("POST", "/r1/oauth2/token", body=body)
    assert (reply.status, reply.json) == (
        400,
        {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"},
    )


@pytest_twisted.ensureDeferred
async def test_resource_errors_hide_credentials_anonymous_and_global(env):
    """Missing/invalid token errors; hide_credentials; anonymous; a token of another service."""
    gw, https = env
    config, cred = await setup(gw, hide_credentials=True)
    backend = BackendApplicationClient(cred["client_id"])
    body = backend.prepare_request_body(include_client_id=True, client_secret=cred["client_secret"])
    token = json.loads((await https.request("POST", "/r1/oauth2/token", body=body)).body)[
        "access_token"
    ]
    reply = await gw.proxy("GET", "/r1")
    assert (reply.status, reply.json["error"]) == (401, "invalid_request")
    assert reply.header("www-authenticate") == "Bearer"
    reply = await gw.proxy("GET", "/r1", headers={"Authorization": "Bearer nope"})
    assert reply.json == {
        "error": "invalid_token",
        "error_description": "The access token is invalid or has expired",
    }
    assert reply.header("www-authenticate") == (
        'Bearer error="invalid_token" error_description="The access token is invalid or has expired"'
    )
    reply = await gw.proxy(
        "GET", f"/r1?access_token={token}&keep=1", headers={"Authorization": f"Bearer {token}"}
    )
    assert reply.status == 200
    assert "authorization" not in reply.json["headers"]
    reply = await gw.proxy("POST", "/r1?keep=1", data={"access_token": token, "other": "x"})
    assert reply.status == 200, reply
    assert reply.json["body"] == "other=x" and "access_token" not in reply.json["query"]
    # Another service with its own plugin: the token is not valid there.
    other_url = f"http://127.0.0.1:{gw.upstream.port}"
    await gw.admin("POST", "/services", {"name": "other", "url": other_url})
    await gw.admin("POST", "/services/other/routes", {"name": "r2", "paths": ["/r2"]})
    guest = (await gw.admin("POST", "/consumers", {"username": "guest"})).json
    await gw.admin(
        "POST",
        "/routes/r2/plugins",
        {"name": "oauth2", "config": {"enable_client_credentials": True, "anonymous": guest["id"]}},
    )
    reply = await gw.proxy("GET", "/r2", headers={"Authorization": f"Bearer {token}"})
    assert reply.status == 200
    assert reply.json["headers"]["x-consumer-username"] == "guest"
    assert reply.json["headers"]["x-anonymous-consumer"] == "true"
    assert "x-authenticated-userid" not in reply.json["headers"]
