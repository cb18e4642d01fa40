"""Unit tests of hmac-auth: header parsing, signing string, skew, digest, every Kong error (no I/O).

Signatures are made by :func:`make_signature`, a small signer written from
Kong's documented format, independent of the plugin's code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from email.utils import formatdate
from typing import Any

import pytest
from twisted.internet.task import Clock

from kongtx.errors import ProxyExit
from kongtx.plugins.hmac_auth import signature as sig
from kongtx.plugins.hmac_auth.handler import HmacAuthHandler as Handler
from kongtx.plugins.hmac_auth.schema import CONFIG
from kongtx.plugins.testing import run_hook
from kongtx.schema.fields import fill_record
from tests.unit.plugins.test_authn import consumer, make_ctx, new_id

NOW = 1_700_000_000
DATE = formatdate(NOW, usegmt=True)
ALICE = consumer("alice", "a-1")
GUEST = consumer("guest")
CRED = {
    "id": new_id(),
    "consumer": {"id": ALICE["id"]},
    "username": "bob",
    "secret": "topsecret",
    "created_at": 1,
    "tags": None,
}
HASHES = {
    "hmac-sha1": "sha1",
    "hmac-sha256": "sha256",
    "hmac-sha384": "sha384",
    "hmac-sha512": "sha512",
}


def conf(**overrides: Any) -> dict[str, Any]:
    return fill_record(CONFIG.fields, overrides)


def make_signature(secret: str, algorithm: str, lines: list[str]) -> str:
    """base64(HMAC(secret, lines joined by newlines)) as Kong's docs describe."""
    mac = hmac.new(secret.encode(), "\n".join(lines).encode(), HASHES[algorithm])
    return base64.b64encode(mac.digest()).decode()


def authorization(
    names: str, signature: str, algorithm: str = "hmac-sha256", username: str = "bob"
) -> str:
    return f'hmac username="{username}", algorithm="{algorithm}", headers="{names}", signature="{signature}"'


def ctx_for(
    headers: list[tuple[str, str]],
    *,
    method: str = "GET",
    target: str = "/req?a=1",
    body: bytes | None = None,
    now: int = NOW,
) -> Any:
    rows = {"consumers": [ALICE, GUEST], "hmacauth_credentials": [CRED]}
    clock = Clock()
    clock.advance(now)
    return make_ctx(rows, method=method, target=target, headers=headers, body=body, clock=clock)


def run(ctx: Any, config: dict[str, Any]) -> ProxyExit | None:
    return run_hook(Handler(), "access", ctx, config)


def signed(
    algorithm: str = "hmac-sha256", extra: list[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    signature = make_signature("topsecret", algorithm, [f"date: {DATE}", "GET /req?a=1 HTTP/1.1"])
    return [
        ("Date", DATE),
        ("Authorization", authorization("date request-line", signature, algorithm)),
        *extra,
    ]


@pytest.mark.parametrize("algorithm", sorted(HASHES))
def test_every_algorithm_authenticates(algorithm: str) -> None:
    """A correct signature with each algorithm authenticates; X-Credential-Identifier is the username."""
    ctx = ctx_for(signed(algorithm))
    assert run(ctx, conf()) is None
    assert ctx.consumer is ALICE and ctx.credential is CRED
    assert ctx.request.headers.get("x-credential-identifier") == "bob"
    assert ctx.request.headers.get("authorization") is not None


def test_algorithms_restriction() -> None:
    """An algorithm not in ``algorithms``: HMAC signature cannot be verified."""
    exc = run(ctx_for(signed("hmac-sha1")), conf(algorithms=["hmac-sha256"]))
    assert exc is not None and (exc.status, exc.message) == (
        401,
        "HMAC signature cannot be verified",
    )


def test_missing_header_and_date() -> None:
    """No authorization: Unauthorized + WWW-Authenticate; no/invalid/skewed date: Kong's date message."""
    exc = run(ctx_for([("Date", DATE)]), conf())
    assert exc is not None and (exc.status, exc.message) == (401, "Unauthorized")
    assert exc.headers == [("WWW-Authenticate", "hmac")]
    exc = run(ctx_for([("Date", DATE)]), conf(realm="kong"))
    assert exc is not None and exc.headers == [("WWW-Authenticate", 'hmac realm="kong"')]
    no_date = [h for h in signed() if h[0] != "Date"]
    for headers in (no_date, no_date + [("Date", "yesterday")]):
        exc = run(ctx_for(headers), conf())
        assert exc is not None and exc.message == sig_message_date()


def sig_message_date() -> str:
    return (
        "HMAC signature cannot be verified, a valid date or x-date header is required for "
        "HMAC Authentication"
    )


def test_clock_skew_edges() -> None:
    """Exactly clock_skew seconds off passes (both directions); one more fails; X-Date counts too."""
    for offset in (-10, 10):
        assert run(ctx_for(signed(), now=NOW + offset), conf(clock_skew=10)) is None
    for offset in (-11, 11):
        exc = run(ctx_for(signed(), now=NOW + offset), conf(clock_skew=10))
        assert exc is not None and exc.message == sig_message_date()
    xdate = formatdate(NOW + 1000, usegmt=True)
    signature = make_signature("topsecret", "hmac-sha256", [f"x-date: {xdate}"])
    headers = [("X-Date", xdate), ("Authorization", authorization("x-date", signature))]
    assert run(ctx_for(headers, now=NOW + 1000), conf()) is None


def test_signature_mismatch_and_unknown_user() -> None:
    """A wrong secret or changed header: does not match; unknown username: cannot be verified."""
    bad = make_signature("wrong", "hmac-sha256", [f"date: {DATE}"])
    exc = run(ctx_for([("Date", DATE), ("Authorization", authorization("date", bad))]), conf())
    assert exc is not None and exc.message == "HMAC signature does not match"
    good = make_signature("topsecret", "hmac-sha256", [f"date: {DATE}"])
    exc = run(
        ctx_for([("Date", DATE), ("Authorization", authorization("date", good, username="eve"))]),
        conf(),
    )
    assert exc is not None and exc.message == "HMAC signature cannot be verified"
    # Request line signed for another path.
    other = make_signature("topsecret", "hmac-sha256", ["GET /other HTTP/1.1"])
    exc = run(
        ctx_for([("Date", DATE), ("Authorization", authorization("request-line", other))]), conf()
    )
    assert exc is not None and exc.message == "HMAC signature does not match"
    exc = run(ctx_for([("Date", DATE), ("Authorization", "hmac garbage")]), conf())
    assert exc is not None and exc.message == "HMAC signature cannot be verified"


def test_request_target_and_absent_header() -> None:
    """``@request-target`` is ``@request-target: get /path?query``; an absent listed header is ``name:``."""
    lines = [f"date: {DATE}", "@request-target: post /req?a=1", "x-missing:"]
    signature = make_signature("topsecret", "hmac-sha256", lines)
    headers = [
        ("Date", DATE),
        ("Authorization", authorization("date @request-target x-missing", signature)),
    ]
    assert run(ctx_for(headers, method="POST"), conf()) is None


def test_enforce_headers() -> None:
    """Every enforce_headers name must be signed."""
    exc = run(ctx_for(signed()), conf(enforce_headers=["date", "x-custom"]))
    assert exc is not None and exc.message == "HMAC signature cannot be verified"
    assert run(ctx_for(signed()), conf(enforce_headers=["date", "request-line"])) is None


def test_proxy_authorization_first_and_hide_credentials() -> None:
    """Proxy-Authorization wins; hide_credentials removes only the header used."""
    good = [h for h in signed() if h[0] != "Authorization"]
    auth = signed()[1][1]
    ctx = ctx_for(good + [("Proxy-Authorization", auth), ("Authorization", "Basic x")])
    assert run(ctx, conf(hide_credentials=True)) is None
    assert "proxy-authorization" not in ctx.request.headers
    assert ctx.request.headers.get("authorization") == "Basic x"
    ctx = ctx_for(signed())
    assert run(ctx, conf(hide_credentials=True)) is None
    assert "authorization" not in ctx.request.headers


def test_validate_request_body() -> None:
    """Digest must be SHA-256 of the body; no Digest only with an empty body."""
    body = b'{"hello":"world"}'
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    lines = [f"date: {DATE}", f"digest: {digest}"]
    signature = make_signature("topsecret", "hmac-sha256", lines)
    headers = [
        ("Date", DATE),
        ("Digest", digest),
        ("Authorization", authorization("date digest", signature)),
    ]
    config = conf(validate_request_body=True)
    assert run(ctx_for(headers, body=body), config) is None
    exc = run(ctx_for(headers, body=b'{"hello":"there"}'), config)
    assert exc is not None and exc.message == "HMAC signature does not match"
    only_date = make_signature("topsecret", "hmac-sha256", [f"date: {DATE}"])
    headers = [("Date", DATE), ("Authorization", authorization("date", only_date))]
    assert run(ctx_for(headers), config) is None
    exc = run(ctx_for(headers, body=b"x"), config)
    assert exc is not None and exc.message == "HMAC signature does not match"


def test_anonymous() -> None:
    """A failure with anonymous set authenticates the anonymous consumer."""
    ctx = ctx_for([("Date", DATE)])
    assert run(ctx, conf(anonymous=GUEST["id"])) is None
    assert ctx.consumer is GUEST and ctx.request.headers.get("x-anonymous-consumer") == "true"


def test_parse_authorization() -> None:
    """Kong's greedy pattern; the scheme is case-insensitive on its first letter."""
    params = sig.parse_authorization(authorization("date  request-line", "c2ln"))
    assert params == sig.HmacParams("bob", "hmac-sha256", ("date", "request-line"), "c2ln")
    assert sig.parse_authorization("Hmac " + authorization("a", "b")[5:]) is not None
    assert sig.parse_authorization("Basic Ym9iOnB3") is None
