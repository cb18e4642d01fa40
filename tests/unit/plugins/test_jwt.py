"""Unit tests of the jwt plugin: token search, decoding, every Kong error, algorithms (no I/O).

Tokens are made by PyJWT; keys by cryptography.
"""

from __future__ import annotations

import base64
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from twisted.internet.task import Clock

from kongtx.errors import ProxyExit
from kongtx.plugins.jwt import token as jwt_token
from kongtx.plugins.jwt.daos import JWT_SECRETS, valid_pem_key
from kongtx.plugins.jwt.handler import JwtHandler as Handler
from kongtx.plugins.jwt.schema import CONFIG
from kongtx.plugins.testing import run_hook
from kongtx.schema.fields import fill_record
from tests.unit.plugins.test_authn import consumer, make_ctx, new_id

NOW = 1_700_000_000

# Kong accepts short HMAC secrets; PyJWT warns about them when signing.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")


def conf(**overrides: Any) -> dict[str, Any]:
    return fill_record(CONFIG.fields, overrides)


def secret_row(owner: dict[str, Any], key: str, **fields: Any) -> dict[str, Any]:
    row = {
        "id": new_id(),
        "consumer": {"id": owner["id"]},
        "key": key,
        "secret": "s3cr3t",
        "rsa_public_key": None,
        "algorithm": "HS256",
        "created_at": 1,
        "tags": None,
    }
    row.update(fields)
    return row


def pem_pair(private: Any) -> tuple[bytes, str]:
    priv = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pub = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return priv, pub.decode()


RSA_PRIV, RSA_PUB = pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))
EC_PRIV, EC_PUB = pem_pair(ec.generate_private_key(ec.SECP256R1()))
EC384_PRIV, EC384_PUB = pem_pair(ec.generate_private_key(ec.SECP384R1()))
ED_PRIV, ED_PUB = pem_pair(ed25519.Ed25519PrivateKey.generate())

ALICE = consumer("alice", "a-1")
GUEST = consumer("guest")
HS = secret_row(ALICE, "alice-key")
RS = secret_row(ALICE, "rs-key", algorithm="RS256", rsa_public_key=RSA_PUB, secret=None)


def rows(*secrets: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {"consumers": [ALICE, GUEST], "jwt_secrets": list(secrets)}


def ctx_for(
    *, target: str = "/", headers: Any = (), method: str = "GET", secrets: Any = None
) -> Any:
    clock = Clock()
    clock.advance(NOW)
    return make_ctx(
        rows(*(secrets if secrets is not None else (HS, RS))),
        target=target,
        headers=list(headers),
        method=method,
        clock=clock,
    )


def bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


def run(ctx: Any, config: dict[str, Any]) -> ProxyExit | None:
    return run_hook(Handler(), "access", ctx, config)


def hs(
    claims: dict[str, Any], secret: str | bytes = "s3cr3t", alg: str = "HS256", **kw: Any
) -> str:
    return pyjwt.encode(claims, secret, algorithm=alg, **kw)


def test_valid_token_in_header_authenticates() -> None:
    """A PyJWT HS256 token authenticates; X-Credential-Identifier is the jwt key; token shared."""
    token = hs({"iss": "alice-key"})
    ctx = ctx_for(headers=bearer(token) + [("X-Credential-Identifier", "forged")])
    assert run(ctx, conf()) is None
    assert ctx.consumer is ALICE and ctx.credential is HS
    assert ctx.request.headers.get("x-credential-identifier") == "alice-key"
    assert ctx.request.headers.get("x-consumer-username") == "alice"
    assert ctx.shared["authenticated_jwt_token"] == token


@pytest.mark.parametrize(
    "where",
    ["query", "custom_query", "cookie", "custom_header"],
)
def test_token_sources(where: str) -> None:
    """uri_param_names, cookie_names and header_names are all searched."""
    token = hs({"iss": "alice-key"})
    config = conf(
        uri_param_names=["jwt", "token"], cookie_names=["crumble"], header_names=["x-jwt"]
    )
    if where == "query":
        ctx = ctx_for(target=f"/?jwt={token}")
    elif where == "custom_query":
        ctx = ctx_for(target=f"/?token={token}")
    elif where == "cookie":
        ctx = ctx_for(headers=[("Cookie", f"a=b; crumble={token}; c=d")])
    else:
        ctx = ctx_for(headers=[("X-JWT", f"bearer {token}")])
    assert run(ctx, config) is None
    assert ctx.consumer is ALICE


def test_authorization_header_not_searched_when_not_listed() -> None:
    """header_names replaces the default ``authorization``."""
    token = hs({"iss": "alice-key"})
    exc = run(ctx_for(headers=bearer(token)), conf(header_names=["x-jwt"]))
    assert exc is not None and (exc.status, exc.message) == (401, "Unauthorized")
    assert exc.headers == [("WWW-Authenticate", "Bearer")]


def test_same_token_twice_is_one_token_different_tokens_are_refused() -> None:
    """Duplicates across sources collapse; two distinct tokens: 401 Multiple tokens provided."""
    token = hs({"iss": "alice-key"})
    assert run(ctx_for(target=f"/?jwt={token}", headers=bearer(token)), conf()) is None
    other = hs({"iss": "alice-key", "x": 1})
    exc = run(ctx_for(target=f"/?jwt={other}", headers=bearer(token)), conf())
    assert exc is not None and (exc.status, exc.message) == (401, "Multiple tokens provided")
    assert exc.headers == [("WWW-Authenticate", 'Bearer error="invalid_token"')]


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("garbage", "invalid JSON"),
        ("a.b", "invalid JSON"),
        ("e30.e30.!!!", "invalid JSON"),
        (
            base64.urlsafe_b64encode(b'{"alg":"none"}').decode().rstrip("=") + ".e30.",
            "invalid alg",
        ),
        (
            base64.urlsafe_b64encode(b'{"alg":"HS256"}').decode().rstrip("=")
            + "."
            + base64.urlsafe_b64encode(b"null").decode().rstrip("=")
            + ".",
            "invalid claims",
        ),
    ],
)
def test_bad_tokens(token: str, reason: str) -> None:
    """Undecodable tokens: 401 ``Bad token; <reason>``."""
    exc = run(ctx_for(headers=bearer(token)), conf())
    assert exc is not None and (exc.status, exc.message) == (401, f"Bad token; {reason}")


def test_realm_in_www_authenticate() -> None:
    """realm prefixes the challenge, error included."""
    exc = run(ctx_for(), conf(realm="kong"))
    assert exc is not None and exc.headers == [("WWW-Authenticate", 'Bearer realm="kong"')]
    exc = run(ctx_for(headers=bearer("x.y")), conf(realm="kong"))
    assert exc is not None
    assert exc.headers == [("WWW-Authenticate", 'Bearer realm="kong" error="invalid_token"')]


def test_key_claim_errors() -> None:
    """Missing, empty and unknown ``iss``; key_claim_name; a key in the JWT header."""
    cases = [
        (hs({"sub": "x"}), conf(), "No mandatory 'iss' in claims"),
        (hs({"iss": ""}), conf(), "Invalid 'iss' in claims"),
        (hs({"iss": "nobody"}), conf(), "No credentials found for given 'iss'"),
        (hs({"iss": "alice-key"}), conf(key_claim_name="aud"), "No mandatory 'aud' in claims"),
    ]
    for token, config, message in cases:
        exc = run(ctx_for(headers=bearer(token)), config)
        assert exc is not None and (exc.status, exc.message) == (401, message), message
    header_key = hs({"sub": "x"}, headers={"kid": "alice-key"})
    assert run(ctx_for(headers=bearer(header_key)), conf(key_claim_name="kid")) is None


def test_wrong_algorithm_and_bad_signature() -> None:
    """alg different from the credential's: Invalid algorithm; wrong secret: Invalid signature."""
    exc = run(ctx_for(headers=bearer(hs({"iss": "alice-key"}, alg="HS512"))), conf())
    assert exc is not None and exc.message == "Invalid algorithm"
    exc = run(ctx_for(headers=bearer(hs({"iss": "alice-key"}, secret="other"))), conf())
    assert exc is not None and exc.message == "Invalid signature"
    token = hs({"iss": "alice-key"})
    head, claims, signature = token.split(".")
    forged = base64.urlsafe_b64encode(b'{"iss":"alice-key","admin":true}').decode().rstrip("=")
    exc = run(ctx_for(headers=bearer(f"{head}.{forged}.{signature}")), conf())
    assert exc is not None and exc.message == "Invalid signature"


def test_secret_is_base64() -> None:
    """secret_is_base64 decodes the stored secret before verifying; undecodable: Invalid key/secret."""
    raw = b"\x00\x01binary-secret\xff"
    row = secret_row(ALICE, "b64", secret=base64.b64encode(raw).decode())
    token = hs({"iss": "b64"}, secret=raw)
    assert run(ctx_for(headers=bearer(token), secrets=[row]), conf(secret_is_base64=True)) is None
    exc = run(ctx_for(headers=bearer(token), secrets=[row]), conf())
    assert exc is not None and exc.message == "Invalid signature"
    bad = secret_row(ALICE, "bad", secret="***")
    token = hs({"iss": "bad"}, secret="***")
    exc = run(ctx_for(headers=bearer(token), secrets=[bad]), conf(secret_is_base64=True))
    assert exc is not None and exc.message == "Invalid key/secret"


@pytest.mark.parametrize(
    ("alg", "private", "public"),
    [
        ("RS256", RSA_PRIV, RSA_PUB),
        ("RS384", RSA_PRIV, RSA_PUB),
        ("RS512", RSA_PRIV, RSA_PUB),
        ("PS256", RSA_PRIV, RSA_PUB),
        ("PS512", RSA_PRIV, RSA_PUB),
        ("ES256", EC_PRIV, EC_PUB),
        ("ES384", EC384_PRIV, EC384_PUB),
        ("EdDSA", ED_PRIV, ED_PUB),
    ],
)
def test_public_key_algorithms(alg: str, private: bytes, public: str) -> None:
    """Every asymmetric algorithm verifies with rsa_public_key; another key's signature fails."""
    row = secret_row(ALICE, "k", algorithm=alg, rsa_public_key=public, secret=None)
    token = pyjwt.encode({"iss": "k"}, private, algorithm=alg)
    assert run(ctx_for(headers=bearer(token), secrets=[row]), conf()) is None
    other = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg[0] in "RP" else None
    )
    if other is not None:
        forged = pyjwt.encode({"iss": "k"}, pem_pair(other)[0], algorithm=alg)
        exc = run(ctx_for(headers=bearer(forged), secrets=[row]), conf())
        assert exc is not None and exc.message == "Invalid signature"


def test_hs_token_against_rs_credential_is_invalid_algorithm() -> None:
    """The alg confusion attack (HS256 signed with the public key) is refused."""
    token = hs({"iss": "rs-key"}, secret="not-the-key")
    exc = run(ctx_for(headers=bearer(token)), conf())
    assert exc is not None and exc.message == "Invalid algorithm"


def test_registered_claims() -> None:
    """exp/nbf: the errors object is the body; exp == now is expired."""
    config = conf(claims_to_verify=["exp", "nbf"])
    cases = [
        ({"iss": "alice-key", "exp": NOW, "nbf": NOW}, {"exp": "token expired"}),
        ({"iss": "alice-key", "exp": NOW + 10, "nbf": NOW + 1}, {"nbf": "token not valid yet"}),
        ({"iss": "alice-key", "exp": "soon", "nbf": NOW}, {"exp": "must be a number"}),
        ({"iss": "alice-key"}, {"exp": "must be a number", "nbf": "must be a number"}),
    ]
    for claims, body in cases:
        exc = run(ctx_for(headers=bearer(hs(claims))), config)
        assert exc is not None and exc.status == 401 and exc.body == body, claims
        assert exc.headers == [("WWW-Authenticate", 'Bearer error="invalid_token"')]
    ok = {"iss": "alice-key", "exp": NOW + 1, "nbf": NOW}
    assert run(ctx_for(headers=bearer(hs(ok))), config) is None
    # Not verified unless asked.
    assert run(ctx_for(headers=bearer(hs({"iss": "alice-key", "exp": 1}))), conf()) is None


def test_maximum_expiration() -> None:
    """exp further than maximum_expiration from now is refused."""
    config = conf(claims_to_verify=["exp"], maximum_expiration=60)
    assert run(ctx_for(headers=bearer(hs({"iss": "alice-key", "exp": NOW + 60}))), config) is None
    exc = run(ctx_for(headers=bearer(hs({"iss": "alice-key", "exp": NOW + 61}))), config)
    assert exc is not None and exc.body == {"exp": "exceeds maximum allowed expiration"}


def test_anonymous_and_preflight() -> None:
    """A failure falls back to anonymous; run_on_preflight=false skips OPTIONS."""
    ctx = ctx_for(headers=bearer("garbage"))
    assert run(ctx, conf(anonymous=GUEST["username"])) is None
    assert ctx.consumer is GUEST and ctx.credential is None
    assert ctx.request.headers.get("x-anonymous-consumer") == "true"
    ctx = ctx_for(method="OPTIONS")
    assert run(ctx, conf(run_on_preflight=False)) is None and ctx.consumer is None
    exc = run(ctx_for(method="OPTIONS"), conf())
    assert exc is not None and exc.status == 401


def test_find_tokens_and_cookie_parsing() -> None:
    """Empty values are ignored; the first cookie of a name wins."""
    assert jwt_token.cookie_value("a=1; b=2; a=3", "a") == "1"
    assert jwt_token.cookie_value(None, "a") is None
    from kongtx.http.headers import Headers

    headers = Headers([("Authorization", "Bearer")])
    assert jwt_token.find_tokens([("jwt", "")], None, headers, ["jwt"], [], ["authorization"]) == []
    headers = Headers([("Authorization", "Basic abc"), ("Authorization", "Bearer t")])
    # Only the first value of a header is looked at.
    assert jwt_token.find_tokens([], None, headers, [], [], ["authorization"]) == []


def test_credential_schema() -> None:
    """Key algorithms need a loadable public key (Kong's messages); key and secret are generated."""
    errors = JWT_SECRETS.errors({"consumer": {"id": new_id()}, "algorithm": "RS256", "key": "k"})
    assert errors == {
        "rsa_public_key": "required field missing",
        "@entity": ["failed conditional validation given value of field 'algorithm'"],
    }
    errors = JWT_SECRETS.errors(
        {"consumer": {"id": new_id()}, "algorithm": "ES256", "rsa_public_key": "nope"}
    )
    assert errors["rsa_public_key"] == "invalid key"
    assert valid_pem_key(RSA_PUB) is None and valid_pem_key(ED_PUB) is None
    assert "algorithm" in JWT_SECRETS.errors({"consumer": {"id": new_id()}, "algorithm": "none"})
    filled = JWT_SECRETS.fill_defaults({"consumer": {"id": new_id()}}, NOW)
    assert (
        filled["algorithm"] == "HS256" and len(filled["key"]) == 32 and len(filled["secret"]) == 32
    )
