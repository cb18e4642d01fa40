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
from kongtx.cache import then
from kongtx.errors import ProxyExit
from kongtx.plugins import authn
from kongtx.plugins.base import PluginHandler, ProxyContext
from kongtx.plugins.hmac_auth import signature as sig

__all__ = ["HmacAuthHandler"]

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


def read_signature(ctx: ProxyContext, conf: dict[str, Any]) -> Any:
    """The request's signature parameters, once the date and their form check out.

    :raises ProxyExit: 401 with Kong's message.
    """
    headers = ctx.request.headers
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
    return params


def check_signature(
    ctx: ProxyContext, conf: dict[str, Any], params: Any, credential: dict[str, Any] | None
) -> dict[str, Any]:
    """``credential`` when the request's signature was made with its secret.

    :raises ProxyExit: 401 with Kong's message.
    """
    request = ctx.request
    secret = credential.get("secret") if credential is not None else None
    if credential is None or not isinstance(secret, str):
        raise _unauthorized(conf, NOT_VALID)
    text = sig.signing_string(
        params.headers, request.headers, request.method, request.target, request.version
    )
    expected = sig.sign(params.algorithm, secret.encode("utf-8"), text)
    if not sig.signature_matches(expected, params.signature):
        raise _unauthorized(conf, NOT_SAME)
    return credential


class HmacAuthHandler(PluginHandler):
    """The ``hmac-auth`` plugin."""

    name = "hmac-auth"
    priority = 1030
    version = KONG_COMPAT_VERSION

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> Deferred[None] | None:
        """Authenticate the request, or answer 401 (or fall back to ``anonymous``).

        The credential (``hmacauth_credentials:<username>:::::``) and its
        consumer come from the entity cache: no I/O on a hit.
        """
        anonymous = conf.get("anonymous")
        if authn.or_already_done(ctx, anonymous):
            return None
        try:
            params = read_signature(ctx, conf)
        except ProxyExit as exc:
            return authn.fail(ctx, anonymous, exc)

        def with_credential(row: dict[str, Any] | None) -> Any:
            try:
                credential = check_signature(ctx, conf, params, row)
            except ProxyExit as exc:
                return authn.fail(ctx, anonymous, exc)
            consumer_id = (credential.get("consumer") or {}).get("id")
            return then(
                ctx.entities.consumer(consumer_id) if consumer_id else None,
                lambda consumer: self._with_consumer(ctx, conf, consumer, credential),
            )

        return then(ctx.entities.row(TABLE, "username", params.username), with_credential)

    def _with_consumer(
        self,
        ctx: ProxyContext,
        conf: dict[str, Any],
        consumer: dict[str, Any] | None,
        credential: dict[str, Any],
    ) -> Deferred[None] | None:
        anonymous = conf.get("anonymous")
        if consumer is None:
            return authn.fail(ctx, anonymous, _unauthorized(conf, NOT_VALID))
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
            failed = authn.fail(ctx, conf.get("anonymous"), _unauthorized(conf, NOT_SAME))
            if failed is not None:
                await failed
            return
        authn.set_consumer(ctx, consumer, credential, credential.get("username"))
