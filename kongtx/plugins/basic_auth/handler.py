"""``basic-auth`` (Kong's ``kong/plugins/basic-auth/access.lua``, priority 1100).

``Proxy-Authorization`` is read first, then ``Authorization``; the
credentials are ``base64(username:password)`` split at the first ``:``.
The credential (``basicauth_credentials:<username>:::::``) and its consumer
come from the entity cache (no I/O on a hit); the password is checked with
bcrypt in a thread, unless this exact verification succeeded recently.
"""

from __future__ import annotations

import re
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kongtx import KONG_COMPAT_VERSION
from kongtx.cache import then
from kongtx.errors import ProxyExit
from kongtx.plugins import authn
from kongtx.plugins.base import PluginHandler, ProxyContext
from kongtx.plugins.basic_auth import crypto
from kongtx.plugins.userpass import decode_user_password

__all__ = ["BasicAuthHandler", "parse_credentials"]

TABLE = "basicauth_credentials"
log = Logger()
_SCHEME = re.compile(r"\s*[Bb]asic\s*(.+)")
_PARTS = re.compile(rb"([^:]+):(.*)")


def parse_credentials(value: str | None) -> tuple[str, bytes] | None:
    """``(username, password)`` from a Basic authorization header value, or None.

    Mirrors Kong: the scheme may appear anywhere, the username is the first
    run of non-``:`` bytes followed by ``:``, the password is the rest (it may
    contain ``:``, and may be empty).
    """
    if not value:
        return None
    m = _SCHEME.search(value)
    if m is None:
        return None
    return decode_user_password(m.group(1).encode("latin-1"), _PARTS.search)


class BasicAuthHandler(PluginHandler):
    """The ``basic-auth`` plugin."""

    name = "basic-auth"
    priority = 1100
    version = KONG_COMPAT_VERSION

    def __init__(self) -> None:
        self.verified = crypto.VerificationCache()

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> Deferred[None] | None:
        """Authenticate the request, or answer 401 (or fall back to ``anonymous``)."""
        anonymous = conf.get("anonymous")
        if authn.or_already_done(ctx, anonymous):
            return None
        headers = ctx.request.headers
        if "authorization" not in headers and "proxy-authorization" not in headers:
            return _fail(ctx, conf)
        hide = conf.get("hide_credentials", False)
        proxy_given = _retrieve(headers, "proxy-authorization", hide)

        def with_proxy_credential(credential: dict[str, Any] | None) -> Any:
            if credential is not None:
                assert proxy_given is not None
                return self._with_credential(ctx, conf, credential, proxy_given[1])
            # As Kong: Authorization is read (and hidden) only when Proxy-Authorization
            # named no credential.
            given = _retrieve(headers, "authorization", hide)
            if given is None:
                return _fail(ctx, conf)
            return then(
                ctx.entities.row(TABLE, "username", given[0]),
                lambda c: self._with_credential(ctx, conf, c, given[1]),
            )

        if proxy_given is not None:
            return then(ctx.entities.row(TABLE, "username", proxy_given[0]), with_proxy_credential)
        return with_proxy_credential(None)

    def _with_credential(
        self,
        ctx: ProxyContext,
        conf: dict[str, Any],
        credential: dict[str, Any] | None,
        password: bytes,
    ) -> Any:
        if credential is None:
            return _fail(ctx, conf)
        consumer_id = (credential.get("consumer") or {}).get("id")
        hashed = credential.get("password")
        if consumer_id is None or not isinstance(hashed, str):
            return _fail(ctx, conf)

        def with_consumer(consumer: dict[str, Any] | None) -> Any:
            if consumer is None:
                return _fail(ctx, conf)
            if self.verified.hit(credential["id"], hashed, password):
                authn.set_consumer(ctx, consumer, credential, credential.get("username"))
                return None
            return Deferred.fromCoroutine(
                self._verify(ctx, conf, consumer, credential, hashed, password)
            )

        return then(ctx.entities.consumer(consumer_id), with_consumer)

    async def _verify(
        self,
        ctx: ProxyContext,
        conf: dict[str, Any],
        consumer: dict[str, Any],
        credential: dict[str, Any],
        hashed: str,
        password: bytes,
    ) -> None:
        if crypto.is_kong_sha1(hashed):
            ok = crypto.check_kong_sha1(password, consumer["id"], hashed)
            if ok:
                _rehash(ctx, credential, password)
        else:
            ok = await crypto.run_in_thread(ctx.clock, crypto.check_password, password, hashed)
        if not ok:
            failed = _fail(ctx, conf)
            if failed is not None:
                await failed
            return
        self.verified.add(credential["id"], hashed, password)
        authn.set_consumer(ctx, consumer, credential, credential.get("username"))


def _rehash(ctx: ProxyContext, credential: dict[str, Any], password: bytes) -> None:
    """Replace an imported Kong SHA-1 hash by bcrypt, in the background (the request goes on)."""
    try:
        text = password.decode("utf-8")
    except UnicodeDecodeError:
        return
    dao: Any = ctx.entities.source  # the node's DAO
    updated = Deferred.fromCoroutine(dao.update(TABLE, credential["id"], {"password": text}))
    updated.addErrback(
        lambda failure: log.warn(
            "basic-auth: could not re-hash credential {id}: {error}",
            id=credential["id"],
            error=failure.getErrorMessage(),
        )
    )


def _retrieve(headers: Any, name: str, hide: bool) -> tuple[str, bytes] | None:
    given = parse_credentials(headers.get(name))
    if hide:
        headers.remove(name)
    return given


def _fail(ctx: ProxyContext, conf: dict[str, Any]) -> Deferred[None] | None:
    realm = conf.get("realm") or "service"
    error = ProxyExit(401, "Unauthorized", headers=[("WWW-Authenticate", f'Basic realm="{realm}"')])
    return authn.fail(ctx, conf.get("anonymous"), error)
