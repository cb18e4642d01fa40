"""jwt and hmac-auth end to end: Admin API credentials (Kong's 400 bodies), the real proxy,
AND/OR with key-auth, deleted credentials. Tokens by PyJWT, signatures by the test's own signer."""

from __future__ import annotations

import base64
import hashlib
import time
from email.utils import formatdate

import jwt as pyjwt
import pytest
import pytest_twisted
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.integration.harness import gateway_and_upstream
from tests.unit.plugins.test_hmac_auth import authorization, make_signature

PLUGINS = "key-auth,jwt,hmac-auth,acl"
SERVICE = "echo"
ROUTES = {"r1": "/r1"}
pytestmark = pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")


@pytest_twisted.async_yield_fixture
async def native(tmp_path):
    async with gateway_and_upstream(
        tmp_path, "native", plugins=PLUGINS, service="echo", routes={"r1": "/r1"}
    ) as pair:
        yield pair


def rsa_keys() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


@pytest_twisted.ensureDeferred
async def test_jwt_flow(env):
    """HS256 and RS256 tokens through the proxy; Kong's statuses, messages and challenges."""
    gw, _ = env
    assert (
        await gw.admin(
            "POST", "/routes/r1/plugins", {"name": "jwt", "config": {"claims_to_verify": ["exp"]}}
        )
    ).status == 201
    assert (
        await gw.admin("POST", "/consumers", {"username": "alice", "custom_id": "a1"})
    ).status == 201
    cred = (await gw.admin("POST", "/consumers/alice/jwt", {})).json
    assert len(cred["key"]) == 32 and len(cred["secret"]) == 32 and cred["algorithm"] == "HS256"
    private, public = rsa_keys()
    reply = await gw.admin(
        "POST",
        "/consumers/alice/jwt",
        {"key": "rs", "algorithm": "RS256", "rsa_public_key": public},
    )
    assert reply.status == 201, reply
    exp = int(time.time()) + 300
    token = pyjwt.encode({"iss": cred["key"], "exp": exp}, cred["secret"], algorithm="HS256")
    reply = await gw.proxy("GET", "/r1", headers={"Authorization": f"Bearer {token}"})
    assert reply.status == 200, reply
    seen = reply.json["headers"]
    assert seen["x-consumer-username"] == "alice" and seen["x-consumer-custom-id"] == "a1"
    assert seen["x-credential-identifier"] == cred["key"]
    rs_token = pyjwt.encode({"iss": "rs", "exp": exp}, private, algorithm="RS256")
    reply = await gw.proxy("GET", f"/r1?jwt={rs_token}")
    assert reply.status == 200, reply
    reply = await gw.proxy("GET", "/r1")
    assert (reply.status, reply.json["message"], reply.header("www-authenticate")) == (
        401,
        "Unauthorized",
        "Bearer",
    )
    expired = pyjwt.encode(
        {"iss": cred["key"], "exp": int(time.time()) - 1}, cred["secret"], algorithm="HS256"
    )
    reply = await gw.proxy("GET", "/r1", headers={"Authorization": f"Bearer {expired}"})
    assert (reply.status, reply.json) == (401, {"exp": "token expired"})
    assert reply.header("www-authenticate") == 'Bearer error="invalid_token"'
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    reply = await gw.proxy("GET", "/r1", headers={"Authorization": f"Bearer {tampered}"})
    assert (reply.status, reply.json["message"]) == (401, "Invalid signature")
    reply = await gw.proxy("GET", "/r1", headers={"Authorization": "Bearer nonsense"})
    assert (reply.status, reply.json["message"]) == (401, "Bad token; invalid JSON")
    unknown = pyjwt.encode({"iss": "who", "exp": exp}, "x", algorithm="HS256")
    reply = await gw.proxy("GET", "/r1", headers={"Authorization": f"Bearer {unknown}"})
    assert (reply.status, reply.json["message"]) == (401, "No credentials found for given 'iss'")
    # The credential deleted: the same token stops working.
    assert (await gw.admin("DELETE", f"/consumers/alice/jwt/{cred['id']}")).status == 204
    reply = await gw.proxy("GET", "/r1", headers={"Authorization": f"Bearer {token}"})
    assert (reply.status, reply.json["message"]) == (401, "No credentials found for given 'iss'")


@pytest_twisted.ensureDeferred
async def test_jwt_admin_api(native):
    """Listing, lookup by key, Kong's 400 bodies for bad input with nothing written."""
    gw, _ = native
    await gw.admin("POST", "/consumers", {"username": "alice"})
    reply = await gw.admin("POST", "/consumers/alice/jwt", {"key": "k1", "secret": "s1"})
    assert reply.status == 201, reply
    reply = await gw.admin("POST", "/consumers/alice/jwt", {"key": "bob5", "algorithm": "RS256"})
    assert reply.status == 400
    assert reply.json["fields"] == {
        "rsa_public_key": "required field missing",
        "@entity": ["failed conditional validation given value of field 'algorithm'"],
    }
    reply = await gw.admin(
        "POST",
        "/consumers/alice/jwt",
        {"key": "bob6", "algorithm": "ES256", "rsa_public_key": "test"},
    )
    assert (reply.status, reply.json["fields"]["rsa_public_key"]) == (400, "invalid key")
    reply = await gw.admin("POST", "/consumers/alice/jwt", {"algorithm": "HS1024"})
    assert reply.status == 400 and "algorithm" in reply.json["fields"]
    reply = await gw.admin("POST", "/consumers/alice/jwt", {"key": "k1"})
    assert reply.status == 409
    listing = (await gw.admin("GET", "/jwts")).json["data"]
    assert [r["key"] for r in listing] == ["k1"]
    assert (await gw.admin("GET", "/jwts/k1")).json["secret"] == "s1"
    assert (await gw.admin("GET", "/jwts/k1/consumer")).json["username"] == "alice"
    reply = await gw.admin(
        "POST",
        "/routes/r1/plugins",
        {"name": "jwt", "config": {"maximum_expiration": 10, "claims_to_verify": ["nbf"]}},
    )
    assert reply.status == 400
    assert reply.json["fields"]["@entity"] == [
        "failed conditional validation given value of field 'config.maximum_expiration'"
    ]


def _hmac_headers(
    secret: str,
    *,
    method: str = "GET",
    path: str = "/r1",
    digest: str | None = None,
    username: str = "bob",
):
    date = formatdate(time.time(), usegmt=True)
    lines = [f"date: {date}", f"{method} {path} HTTP/1.1"]
    names = "date request-line"
    headers = {"Date": date}
    if digest is not None:
        lines.append(f"digest: {digest}")
        names += " digest"
        headers["Digest"] = digest
    headers["Authorization"] = authorization(
        names, make_signature(secret, "hmac-sha256", lines), username=username
    )
    return headers


@pytest_twisted.ensureDeferred
async def test_hmac_flow(env):
    """A signed request passes, wrong secret/date fail with Kong's messages; body digest; hide."""
    gw, _ = env
    config = {"hide_credentials": True, "validate_request_body": True}
    assert (
        await gw.admin("POST", "/routes/r1/plugins", {"name": "hmac-auth", "config": config})
    ).status == 201
    await gw.admin("POST", "/consumers", {"username": "alice"})
    reply = await gw.admin("POST", "/consumers/alice/hmac-auth", {"username": "bob"})
    assert reply.status == 201, reply
    secret = reply.json["secret"]
    assert len(secret) == 32
    reply = await gw.proxy("GET", "/r1", headers=_hmac_headers(secret))
    assert reply.status == 200, reply
    seen = reply.json["headers"]
    assert seen["x-consumer-username"] == "alice" and seen["x-credential-identifier"] == "bob"
    assert "authorization" not in seen
    reply = await gw.proxy("GET", "/r1", headers=_hmac_headers("wrong"))
    assert (reply.status, reply.json["message"]) == (401, "HMAC signature does not match")
    assert reply.header("www-authenticate") == "hmac"
    stale = _hmac_headers(secret)
    stale["Date"] = formatdate(time.time() - 400, usegmt=True)
    reply = await gw.proxy("GET", "/r1", headers=stale)
    assert reply.status == 401 and reply.json["message"].startswith(
        "HMAC signature cannot be verified, a valid date"
    )
    body = b"payload=1"
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    headers = _hmac_headers(secret, method="POST", digest=digest)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    reply = await gw.proxy("POST", "/r1", headers=headers, data=body)
    assert reply.status == 200, reply
    reply = await gw.proxy("POST", "/r1", headers=headers, data=b"payload=2")
    assert (reply.status, reply.json["message"]) == (401, "HMAC signature does not match")


@pytest_twisted.ensureDeferred
async def test_hmac_admin_api(native):
    """Kong's 400 for a missing username, 409 for a duplicate, nothing written."""
    gw, _ = native
    await gw.admin("POST", "/consumers", {"username": "alice"})
    reply = await gw.admin("POST", "/consumers/alice/hmac-auth", {})
    assert (reply.status, reply.json["fields"]) == (400, {"username": "required field missing"})
    assert (
        await gw.admin("POST", "/consumers/alice/hmac-auth", {"username": "bob", "secret": "x"})
    ).status == 201
    assert (await gw.admin("POST", "/consumers/alice/hmac-auth", {"username": "bob"})).status == 409
    listing = (await gw.admin("GET", "/hmac-auths")).json["data"]
    assert [(r["username"], r["secret"]) for r in listing] == [("bob", "x")]
    reply = await gw.admin(
        "POST", "/routes/r1/plugins", {"name": "hmac-auth", "config": {"algorithms": ["md5"]}}
    )
    assert reply.status == 400


@pytest_twisted.ensureDeferred
async def test_or_and_with_key_auth(native):
    """jwt OR hmac-auth OR key-auth with anonymous; jwt AND key-auth without."""
    gw, _ = native
    guest = (await gw.admin("POST", "/consumers", {"username": "guest"})).json
    await gw.admin("POST", "/consumers", {"username": "alice"})
    await gw.admin("POST", "/consumers", {"username": "carol"})
    jwt_cred = (await gw.admin("POST", "/consumers/alice/jwt", {})).json
    await gw.admin("POST", "/consumers/carol/key-auth", {"key": "carol-key"})
    hmac_cred = (await gw.admin("POST", "/consumers/carol/hmac-auth", {"username": "c"})).json
    for name in ("jwt", "key-auth", "hmac-auth"):
        reply = await gw.admin(
            "POST", "/routes/r1/plugins", {"name": name, "config": {"anonymous": guest["id"]}}
        )
        assert reply.status == 201, reply
    token = pyjwt.encode({"iss": jwt_cred["key"]}, jwt_cred["secret"], algorithm="HS256")
    reply = await gw.proxy("GET", "/r1", headers={"Authorization": f"Bearer {token}"})
    assert reply.json["headers"]["x-consumer-username"] == "alice"
    reply = await gw.proxy("GET", "/r1", headers={"apikey": "carol-key"})
    assert reply.json["headers"]["x-consumer-username"] == "carol"
    reply = await gw.proxy("GET", "/r1", headers=_hmac_headers(hmac_cred["secret"], username="c"))
    assert reply.json["headers"]["x-consumer-username"] == "carol"
    assert reply.json["headers"]["x-credential-identifier"] == "c"
    reply = await gw.proxy("GET", "/r1", headers={"Authorization": "Bearer junk"})
    assert reply.json["headers"]["x-consumer-username"] == "guest"
    assert reply.json["headers"]["x-anonymous-consumer"] == "true"
    # AND: jwt and key-auth both required on a second route.
    await gw.admin("POST", "/services/echo/routes", {"name": "r2", "paths": ["/r2"]})
    await gw.admin("POST", "/routes/r2/plugins", {"name": "jwt"})
    await gw.admin("POST", "/routes/r2/plugins", {"name": "key-auth"})
    assert (await gw.proxy("GET", "/r2", headers={"apikey": "carol-key"})).status == 401
    assert (await gw.proxy("GET", f"/r2?jwt={token}")).status == 401
    reply = await gw.proxy("GET", f"/r2?jwt={token}", headers={"apikey": "carol-key"})
    assert reply.status == 200
    # jwt (1450) runs before key-auth (1250): the last one names the consumer.
    assert reply.json["headers"]["x-consumer-username"] == "carol"
