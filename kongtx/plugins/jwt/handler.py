"""``jwt`` (Kong's ``kong/plugins/jwt/handler.lua``, priority 1450).

Tokens come from the query string (``uri_param_names``), cookies
(``cookie_names``) and ``Bearer`` headers (``header_names``); more than one
distinct token is refused. The secret is found by the ``key_claim_name``
claim (or header field), the token's ``alg`` must be the secret's algorithm,
then the signature, ``claims_to_verify`` and ``maximum_expiration`` are
checked. Every failure is a 401 with Kong's message and ``WWW-Authenticate``.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from kongtx import KONG_COMPAT_VERSION
from kongtx.cache import then
from kongtx.errors import ProxyExit
from kongtx.plugins import authn
from kongtx.plugins.base import PluginHandler, ProxyContext
from kongtx.plugins.jwt import token as jwt_token

__all__ = ["JwtHandler", "read_token", "verify"]

TABLE = "jwt_secrets"


def _www_authenticate(conf: dict[str, Any]) -> str:
    realm = conf.get("realm")
    return f'Bearer realm="{realm}"' if realm is not None else "Bearer"


def _unauthorized(conf: dict[str, Any], message: str | None, errors: Any = None) -> ProxyExit:
    header = _www_authenticate(conf) + ' error="invalid_token"'
    if errors is not None:
        return ProxyExit(401, body=errors, headers=[("WWW-Authenticate", header)])
    return ProxyExit(401, message, headers=[("WWW-Authenticate", header)])


def _secret_material(conf: dict[str, Any], secret: dict[str, Any], alg: str) -> bytes | None:
    value = secret.get("secret") if alg.startswith("HS") else secret.get("rsa_public_key")
    if not isinstance(value, str):
        return None
    if conf.get("secret_is_base64"):
        return jwt_token.b64url_decode(value)
    return value.encode("utf-8")


def read_token(ctx: ProxyContext, conf: dict[str, Any]) -> tuple[jwt_token.Token, str, str, str]:
    """``(token, raw token, claim name, key)`` of the request (no lookup yet).

    :raises ProxyExit: 401 with Kong's message.
    """
    request = ctx.request
    tokens = jwt_token.find_tokens(
        ctx.query_args(),
        request.headers.get("cookie"),
        request.headers,
        conf.get("uri_param_names") or (),
        conf.get("cookie_names") or (),
        conf.get("header_names") or (),
    )
    if not tokens:
        raise ProxyExit(
            401, "Unauthorized", headers=[("WWW-Authenticate", _www_authenticate(conf))]
        )
    if len(tokens) > 1:
        raise _unauthorized(conf, "Multiple tokens provided")
    raw = tokens[0]
    try:
        token = jwt_token.parse(raw)
    except jwt_token.BadToken as exc:
        raise _unauthorized(conf, f"Bad token; {exc}") from None
    claim_name = conf.get("key_claim_name") or "iss"
    key = token.claims.get(claim_name)
    if key is None:
        key = token.header.get(claim_name)
    if key is None or key is False:
        raise _unauthorized(conf, f"No mandatory '{claim_name}' in claims")
    if key == "":
        raise _unauthorized(conf, f"Invalid '{claim_name}' in claims")
    if not isinstance(key, str):
        raise _unauthorized(conf, f"No credentials found for given '{claim_name}'")
    return token, raw, claim_name, key


def verify(
    ctx: ProxyContext,
    conf: dict[str, Any],
    token: jwt_token.Token,
    claim_name: str,
    secret: dict[str, Any] | None,
) -> dict[str, Any]:
    """The ``jwt_secrets`` row once the token checks out against it.

    :raises ProxyExit: 401 with Kong's message (or claim errors as the body).
    """
    if secret is None:
        raise _unauthorized(conf, f"No credentials found for given '{claim_name}'")
    algorithm = secret.get("algorithm") or "HS256"
    if token.alg != algorithm:
        raise _unauthorized(conf, "Invalid algorithm")
    material = _secret_material(conf, secret, algorithm)
    if material is None:
        raise _unauthorized(conf, "Invalid key/secret")
    if not jwt_token.verify_signature(token, material):
        raise _unauthorized(conf, "Invalid signature")
    now = int(ctx.clock.seconds())
    errors = jwt_token.claim_errors(token.claims, conf.get("claims_to_verify") or (), now)
    if errors:
        raise _unauthorized(conf, None, errors)
    maximum = conf.get("maximum_expiration") or 0
    if maximum > 0:
        errors = jwt_token.expiration_errors(token.claims, maximum, now)
        if errors:
            raise _unauthorized(conf, None, errors)
    return secret


class JwtHandler(PluginHandler):
    """The ``jwt`` plugin."""

    name = "jwt"
    priority = 1450
    version = KONG_COMPAT_VERSION

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> Deferred[None] | None:
        """Authenticate the request, or answer 401 (or fall back to ``anonymous``).

        The secret (``jwt_secrets:<key>:::::``) and its consumer come from the
        entity cache: no I/O on a hit.
        """
        if not conf.get("run_on_preflight", True) and ctx.request.method == "OPTIONS":
            return None
        anonymous = conf.get("anonymous")
        if authn.or_already_done(ctx, anonymous):
            return None
        try:
            token, raw, claim_name, key = read_token(ctx, conf)
        except ProxyExit as exc:
            return authn.fail(ctx, anonymous, exc)

        def with_secret(row: dict[str, Any] | None) -> Any:
            try:
                secret = verify(ctx, conf, token, claim_name, row)
            except ProxyExit as exc:
                return authn.fail(ctx, anonymous, exc)

            def with_consumer(consumer: dict[str, Any] | None) -> Any:
                if consumer is None:
                    missing = ProxyExit(401, f"Could not find consumer for '{claim_name}={key}'")
                    return authn.fail(ctx, anonymous, missing)
                authn.set_consumer(ctx, consumer, secret, secret.get("key"))
                ctx.shared["authenticated_jwt_token"] = raw
                return None

            consumer_id = (secret.get("consumer") or {}).get("id")
            return then(ctx.entities.consumer(consumer_id) if consumer_id else None, with_consumer)

        return then(ctx.entities.row(TABLE, "key", key), with_secret)
