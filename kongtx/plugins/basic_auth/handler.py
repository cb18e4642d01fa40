"""``basic-auth`` (Kong's ``kong/plugins/basic-auth/access.lua``, priority 1100).

``Proxy-Authorization`` is read first, then ``Authorization``; the
credentials are ``base64(username:password)`` split at the first ``:``.
The username is looked up in the snapshot; the password is checked with
bcrypt in a thread, unless this exact verification succeeded recently.
"""

from __future__ import annotations

import binascii
import re
from base64 import b64decode
from typing import Any

from twisted.internet.defer import Deferred

from kongtx import KONG_COMPAT_VERSION
from kongtx.errors import ProxyExit
from kongtx.plugins import authn
from kongtx.plugins.base import PluginHandler, ProxyContext
from kongtx.plugins.basic_auth import crypto

__all__ = ["Handler", "parse_credentials"]

TABLE = "basicauth_credentials"
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
    token = m.group(1).encode("latin-1")
    try:
        decoded = b64decode(token + b"=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    parts = _PARTS.search(decoded)
    if parts is None:
        return None
    try:
        username = parts.group(1).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return username, parts.group(2)


class Handler(PluginHandler):
    """The ``basic-auth`` plugin."""

    name = "basic-auth"
    priority = 1100
    version = KONG_COMPAT_VERSION

    def __init__(self) -> None:
        self.verified = crypto.VerificationCache()

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> Deferred[None] | None:
        """Authenticate the request, or answer 401 (or fall back to ``anonymous``)."""
        if authn.or_already_done(ctx, conf):
            return None
        headers = ctx.request.headers
        if "authorization" not in headers and "proxy-authorization" not in headers:
            _fail(ctx, conf)
            return None
        snapshot = ctx.snapshot
        hide = conf.get("hide_credentials", False)
        credential = None
        given = _retrieve(headers, "proxy-authorization", hide)
        if given is not None:
            credential = snapshot.credential(TABLE, given[0])
        if credential is None:
            given = _retrieve(headers, "authorization", hide)
            if given is None:
                _fail(ctx, conf)
                return None
            credential = snapshot.credential(TABLE, given[0])
        if credential is None:
            _fail(ctx, conf)
            return None
        consumer = snapshot.consumers.get((credential.get("consumer") or {}).get("id"))
        hashed = credential.get("password")
        if consumer is None or not isinstance(hashed, str):
            _fail(ctx, conf)
            return None
        assert given is not None
        password = given[1]
        if self.verified.hit(credential["id"], hashed, password):
            authn.set_consumer(ctx, consumer, credential, credential.get("username"))
            return None
        return Deferred.fromCoroutine(
            self._verify(ctx, conf, consumer, credential, hashed, password)
        )

    async def _verify(
        self,
        ctx: ProxyContext,
        conf: dict[str, Any],
        consumer: dict[str, Any],
        credential: dict[str, Any],
        hashed: str,
        password: bytes,
    ) -> None:
        ok = await crypto.run_in_thread(ctx.clock, crypto.check_password, password, hashed)
        if not ok:
            _fail(ctx, conf)
            return
        self.verified.add(credential["id"], hashed, password)
        authn.set_consumer(ctx, consumer, credential, credential.get("username"))


def _retrieve(headers: Any, name: str, hide: bool) -> tuple[str, bytes] | None:
    given = parse_credentials(headers.get(name))
    if hide:
        headers.remove(name)
    return given


def _fail(ctx: ProxyContext, conf: dict[str, Any]) -> None:
    realm = conf.get("realm") or "service"
    error = ProxyExit(401, "Unauthorized", headers=[("WWW-Authenticate", f'Basic realm="{realm}"')])
    authn.fail(ctx, conf, error)
