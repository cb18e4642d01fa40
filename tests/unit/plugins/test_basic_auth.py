"""Unit tests of basic-auth: header parsing, bcrypt hashing/verification, the verification cache."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred

from kongtx.errors import ProxyExit
from kongtx.plugins.basic_auth import crypto, daos
from kongtx.plugins.basic_auth.handler import BasicAuthHandler as Handler
from kongtx.plugins.basic_auth.handler import parse_credentials
from tests.unit.plugins.test_authn import consumer, make_ctx, new_id


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)


def basic(user_pass: bytes) -> str:
    return "Basic " + base64.b64encode(user_pass).decode()


def test_parse_credentials() -> None:
    """Split at the first ``:``; password may hold ``:`` or be empty; bad input gives None."""
    assert parse_credentials(basic(b"bob:pa:ss")) == ("bob", b"pa:ss")
    assert parse_credentials(basic(b"bob:")) == ("bob", b"")
    assert parse_credentials("basic " + base64.b64encode(b"u:p").decode().rstrip("=")) == (
        "u",
        b"p",
    )
    assert parse_credentials(basic(b"nocolon")) is None
    assert parse_credentials("Bearer abc") is None
    assert parse_credentials("Basic !!!") is None
    assert parse_credentials(None) is None


def test_hash_and_check() -> None:
    """bcrypt hashes verify only the right password; long passwords are not truncated."""
    hashed = crypto.hash_password(b"s3cret")
    assert crypto.is_hashed(hashed)
    assert crypto.check_password(b"s3cret", hashed)
    assert not crypto.check_password(b"s3cre", hashed)
    long = b"x" * 100
    long_hash = crypto.hash_password(long)
    assert crypto.check_password(long, long_hash)
    assert not crypto.check_password(b"x" * 99 + b"y", long_hash)
    assert not crypto.check_password(b"s3cret", "not-a-hash")


def test_verification_cache_keys_on_hash_and_is_bounded() -> None:
    """A cached success is tied to the stored hash (a password change misses) and the LRU is bounded."""
    cache = crypto.VerificationCache(size=2, secret=b"k")
    cache.add("c1", "h1", b"pw")
    assert cache.hit("c1", "h1", b"pw")
    assert not cache.hit("c1", "h2", b"pw")
    assert not cache.hit("c1", "h1", b"other")
    cache.add("c2", "h", b"a")
    cache.hit("c1", "h1", b"pw")  # refresh c1
    cache.add("c3", "h", b"b")
    assert len(cache) == 2
    assert cache.hit("c1", "h1", b"pw") and not cache.hit("c2", "h", b"a")


@pytest_twisted.ensureDeferred
async def test_transformation_hashes_plain_passwords_only() -> None:
    """The entity transformation hashes a plain password, leaves hashes and invalid values alone."""
    row = await daos.hash_password({"username": "u", "password": "pw"}, None)
    assert crypto.is_hashed(row["password"]) and crypto.check_password(b"pw", row["password"])
    assert await daos.hash_password(dict(row), None) == row
    for bad in ("", None, 5):
        assert (await daos.hash_password({"password": bad}, None))["password"] == bad


def _rows(password: str = "pw") -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    owner = consumer("bob")
    cred = {
        "id": new_id(),
        "consumer": {"id": owner["id"]},
        "username": "bob-user",
        "password": crypto.hash_password(password.encode()),
        "created_at": 1,
        "tags": None,
    }
    return owner, cred, {"consumers": [owner, consumer("anon")], "basicauth_credentials": [cred]}


async def _run(handler: Handler, ctx: Any, conf: dict[str, Any]) -> ProxyExit | None:
    try:
        result = handler.access(ctx, conf)
        if isinstance(result, Deferred):
            await result
    except ProxyExit as exc:
        return exc
    return None


CONF = {"anonymous": None, "hide_credentials": False, "realm": "service"}


@pytest_twisted.ensureDeferred
async def test_valid_credentials_and_cache() -> None:
    """Good credentials authenticate (bcrypt in a thread), then hit the cache synchronously."""
    owner, cred, rows = _rows("p:w")
    handler = Handler()
    ctx = make_ctx(rows, headers=[("Authorization", basic(b"bob-user:p:w"))])
    assert await _run(handler, ctx, CONF) is None
    assert ctx.consumer is owner and ctx.credential is cred
    assert ctx.request.headers.get("x-credential-identifier") == "bob-user"
    assert ctx.request.headers.get("authorization") is not None
    ctx = make_ctx(rows, headers=[("Authorization", basic(b"bob-user:p:w"))])
    assert handler.access(ctx, CONF) is None  # cached: no thread, no Deferred
    assert ctx.consumer is owner


@pytest_twisted.ensureDeferred
async def test_failures_are_401_with_realm() -> None:
    """Missing header, bad format, unknown user, wrong password: 401 Unauthorized + WWW-Authenticate."""
    _, _, rows = _rows()
    cases = [
        [],
        [("Authorization", "Basic ???")],
        [("Authorization", basic(b"nobody:pw"))],
        [("Authorization", basic(b"bob-user:wrong"))],
    ]
    for headers in cases:
        exc = await _run(Handler(), make_ctx(rows, headers=headers), {**CONF, "realm": "r1"})
        assert (exc.status, exc.message) == (401, "Unauthorized"), headers
        assert exc.headers == [("WWW-Authenticate", 'Basic realm="r1"')]


@pytest_twisted.ensureDeferred
async def test_proxy_authorization_first_and_hidden() -> None:
    """Proxy-Authorization is used before Authorization; hide_credentials removes the header used."""
    owner, _, rows = _rows()
    ctx = make_ctx(
        rows,
        headers=[
            ("Proxy-Authorization", basic(b"bob-user:pw")),
            ("Authorization", "Bearer upstream-token"),
        ],
    )
    assert await _run(Handler(), ctx, {**CONF, "hide_credentials": True}) is None
    assert ctx.consumer is owner
    assert "proxy-authorization" not in ctx.request.headers
    assert ctx.request.headers.get("authorization") == "Bearer upstream-token"
    ctx = make_ctx(
        rows,
        headers=[
            ("Proxy-Authorization", basic(b"ghost:pw")),
            ("Authorization", basic(b"bob-user:pw")),
        ],
    )
    assert await _run(Handler(), ctx, {**CONF, "hide_credentials": True}) is None
    assert "authorization" not in ctx.request.headers


@pytest_twisted.ensureDeferred
async def test_anonymous_after_wrong_password() -> None:
    """With anonymous, a wrong password sets the anonymous consumer instead of answering."""
    _, _, rows = _rows()
    ctx = make_ctx(rows, headers=[("Authorization", basic(b"bob-user:bad"))])
    assert await _run(Handler(), ctx, {**CONF, "anonymous": "anon"}) is None
    assert ctx.consumer["username"] == "anon" and ctx.credential is None
    assert ctx.request.headers.get("x-anonymous-consumer") == "true"
