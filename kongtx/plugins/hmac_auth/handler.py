"""``hmac-auth`` (Kong's ``kong/plugins/hmac-auth/access.lua``, priority 1030).

``Proxy-Authorization`` is read first, then ``Authorization``. The request
must carry an ``X-Date`` or ``Date`` within ``clock_skew`` seconds; the
signature covers the listed headers (``request-line`` and
``@request-target`` included), must use an allowed algorithm and list every
``enforce_headers``; with ``validate_request_body`` the ``Digest`` header
must match the body (which is then buffered).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from kongtx import KONG_COMPAT_VERSION
from kongtx.errors import ProxyExit
from kongtx.plugins import authn
from kongtx.plugins.base import PluginHandler, ProxyContext
from kongtx.plugins.hmac_auth import signature as sig

__all__ = ["Handler"]

TABLE = "hmacauth_credentials"
NO_DATE = (
    "HMAC signature cannot be verified, a valid date or "
    "x-date header is required for HMAC Authentication"
)
NOT_VALID = "HMAC signature cannot be verified"
NOT_SAME = "HMAC signature does not match"


def _unauthorized(conf: dict[str, Any], message: str) -> ProxyExit:
    realm = conf.get("realm")
    www = f'hmac realm="{realm}"' if realm is not None else "hmac"
    return ProxyExit(401, message, headers=[("WWW-Authenticate", www)])


def _params(ctx: ProxyContext, conf: dict[str, Any]) -> sig.HmacParams | None:
    headers = ctx.request.headers
    params = sig.parse_authorization(headers.get("proxy-authorization"))
    hide = conf.get("hide_credentials")
    if params is None:
        params = sig.parse_authorization(headers.get("authorization"))
        if hide:
            headers.remove("authorization")
    elif hide:
        headers.remove("proxy-authorization")
    return params


def _acceptable(params: sig.HmacParams | None, conf: dict[str, Any]) -> bool:
    if params is None or not params.username or not params.signature:
        return False
    listed = set(params.headers)
    if any(name not in listed for name in conf.get("enforce_headers") or ()):
        return False
    return params.algorithm in (conf.get("algorithms") or ()) and params.algorithm in sig.DIGESTS


def check(ctx: ProxyContext, conf: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(consumer, credential)`` when the signature is right (the body is checked apart).

    :raises ProxyExit: 401 with Kong's message.
    """
    request = ctx.request
    headers = request.headers
    if "authorization" not in headers and "proxy-authorization" not in headers:
        raise _unauthorized(conf, "Unauthorized")
    now = ctx.clock.seconds()
    skew = conf.get("clock_skew") or 300
    if not (
        sig.within_skew(headers.get("x-date"), now, skew)
        or sig.within_skew(headers.get("date"), now, skew)
    ):
        raise _unauthorized(conf, NO_DATE)
    params = _params(ctx, conf)
    if not _acceptable(params, conf):
        raise _unauthorized(conf, NOT_VALID)
    assert params is not None
    credential = ctx.snapshot.credential(TABLE, params.username)
    secret = credential.get("secret") if credential is not None else None
    if credential is None or not isinstance(secret, str):
        raise _unauthorized(conf, NOT_VALID)
    text = sig.signing_string(
        params.headers, headers, request.method, request.target, request.version
    )
    expected = sig.sign(params.algorithm, secret.encode("utf-8"), text)
    if not sig.signature_matches(expected, params.signature):
        raise _unauthorized(conf, NOT_SAME)
    consumer = ctx.snapshot.consumers.get((credential.get("consumer") or {}).get("id"))
    if consumer is None:
        raise _unauthorized(conf, NOT_VALID)
    return consumer, credential


class Handler(PluginHandler):
    """The ``hmac-auth`` plugin."""

    name = "hmac-auth"
    priority = 1030
    version = KONG_COMPAT_VERSION

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> Deferred[None] | None:
        """Authenticate the request, or answer 401 (or fall back to ``anonymous``)."""
        if authn.or_already_done(ctx, conf):
            return None
        try:
            consumer, credential = check(ctx, conf)
        except ProxyExit as exc:
            authn.fail(ctx, conf, exc)
            return None
        if conf.get("validate_request_body"):
            return Deferred.fromCoroutine(self._check_body(ctx, conf, consumer, credential))
        authn.set_consumer(ctx, consumer, credential, credential.get("username"))
        return None

    async def _check_body(
        self,
        ctx: ProxyContext,
        conf: dict[str, Any],
        consumer: dict[str, Any],
        credential: dict[str, Any],
    ) -> None:
        body = await ctx.read_body()
        if not sig.digest_matches(ctx.request.headers.get("digest"), body):
            authn.fail(ctx, conf, _unauthorized(conf, NOT_SAME))
            return
        authn.set_consumer(ctx, consumer, credential, credential.get("username"))
