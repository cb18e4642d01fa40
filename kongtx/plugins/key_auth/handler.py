"""``key-auth`` (Kong's ``kong/plugins/key-auth/handler.lua``, priority 1250).

For each of ``key_names`` in order the key is looked for in the headers, then
the query string, then (``key_in_body``) the body; the first string value
wins, a repeated value is a duplicate (401). The key is checked against the
snapshot's ``keyauth_credentials`` index (no I/O), then its ``ttl``.
The request body is only buffered when ``key_in_body`` is set and needed.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from twisted.internet.defer import Deferred

from kongtx import KONG_COMPAT_VERSION
from kongtx.errors import ProxyExit
from kongtx.http.request_body import parse_body
from kongtx.plugins import authn
from kongtx.plugins.base import ConfigCache, PluginHandler, ProxyContext

__all__ = ["NEED_BODY", "Handler", "KeyAuthConfig", "KeyFound", "find_key", "prepare"]

NO_KEY = "No API key found in request"
INVALID = "Unauthorized"
DUPLICATE = "Duplicate API key found"

#: :func:`find_key` needs the parsed body to go on.
NEED_BODY: Any = object()


@dataclass(frozen=True)
class KeyAuthConfig:
    """A plugin config digested once (hooks run on every request)."""

    key_names: tuple[str, ...]
    in_header: bool
    in_query: bool
    in_body: bool
    hide_credentials: bool
    run_on_preflight: bool
    www_authenticate: str


def prepare(conf: dict[str, Any]) -> KeyAuthConfig:
    """Digest a ``key-auth`` config."""
    realm = conf.get("realm")
    return KeyAuthConfig(
        key_names=tuple(conf.get("key_names") or ("apikey",)),
        in_header=bool(conf.get("key_in_header", True)),
        in_query=bool(conf.get("key_in_query", True)),
        in_body=bool(conf.get("key_in_body", False)),
        hide_credentials=bool(conf.get("hide_credentials", False)),
        run_on_preflight=bool(conf.get("run_on_preflight", True)),
        www_authenticate=f'Key realm="{realm}"' if realm is not None else "Key",
    )


@dataclass(frozen=True)
class KeyFound:
    """The key and the name it was sent under."""

    key: str
    name: str


def find_key(cfg: KeyAuthConfig, headers: Any, query: list[tuple[str, str]], body: Any) -> Any:
    """Kong's key search: a :class:`KeyFound`, ``None`` (no key) or :data:`NEED_BODY`.

    :param body: the parsed body (``get(name)``), ``None`` when unreadable, or
        :data:`NEED_BODY` when not read yet.
    :raises ProxyExit: 401 ``Duplicate API key found``.
    """
    for name in cfg.key_names:
        value: Any = None
        if cfg.in_header:
            values = headers.get_all(name)
            if values:
                value = authn.wire_text(values[0]) if len(values) == 1 else values
        if value is None and cfg.in_query:
            found = [v for k, v in query if k == name]
            if found:
                value = found[0] if len(found) == 1 else found
        if value is None and cfg.in_body:
            if body is NEED_BODY:
                return NEED_BODY
            if body is not None:
                value = body.get(name)
        if isinstance(value, str):
            return KeyFound(value, name)
        if isinstance(value, list):
            raise _unauthorized(cfg, DUPLICATE)
    return None


def _unauthorized(cfg: KeyAuthConfig, message: str) -> ProxyExit:
    return ProxyExit(401, message, headers=[("WWW-Authenticate", cfg.www_authenticate)])


class Handler(PluginHandler):
    """The ``key-auth`` plugin."""

    name = "key-auth"
    priority = 1250
    version = KONG_COMPAT_VERSION

    def __init__(self) -> None:
        self._configs: ConfigCache[KeyAuthConfig] = ConfigCache(prepare)
        # Per snapshot: credential id -> absolute expiry (see _expired).
        self._expiry: WeakKeyDictionary[Any, dict[str, float]] = WeakKeyDictionary()

    def configure(self, configs: list[dict[str, Any]]) -> None:
        """Digest every enabled config once per snapshot."""
        self._configs.reset(configs)

    def _config(self, conf: dict[str, Any]) -> KeyAuthConfig:
        """The digest of ``conf``."""
        return self._configs.get(conf)

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> Deferred[None] | None:
        """Authenticate the request, or answer 401 (or fall back to ``anonymous``)."""
        cfg = self._configs.get(conf)
        if not cfg.run_on_preflight and ctx.request.method == "OPTIONS":
            return None
        if authn.or_already_done(ctx, conf):
            return None
        body: Any = NEED_BODY if cfg.in_body else None
        try:
            found = find_key(cfg, ctx.request.headers, ctx.query_args(), body)
        except ProxyExit as exc:
            authn.fail(ctx, conf, exc)
            return None
        if found is NEED_BODY or (cfg.in_body and cfg.hide_credentials and found is not None):
            return Deferred.fromCoroutine(self._access_with_body(ctx, conf, cfg))
        self._finish(ctx, conf, cfg, found, None)
        return None

    async def _access_with_body(
        self, ctx: ProxyContext, conf: dict[str, Any], cfg: KeyAuthConfig
    ) -> None:
        raw = await ctx.read_body()
        parsed = parse_body(ctx.request.headers.get("content-type"), raw)
        try:
            found = find_key(cfg, ctx.request.headers, ctx.query_args(), parsed)
        except ProxyExit as exc:
            authn.fail(ctx, conf, exc)
            return
        self._finish(ctx, conf, cfg, found, parsed)

    def _finish(
        self,
        ctx: ProxyContext,
        conf: dict[str, Any],
        cfg: KeyAuthConfig,
        found: KeyFound | None,
        parsed: Any,
    ) -> None:
        if found is not None and cfg.hide_credentials:
            _hide(ctx, cfg, found.name, parsed)
        if found is None or found.key == "":
            authn.fail(ctx, conf, _unauthorized(cfg, NO_KEY))
            return
        snapshot = ctx.snapshot
        credential = snapshot.credential("keyauth_credentials", found.key)
        consumer = None
        if (
            credential is not None
            and _same(credential.get("key"), found.key)
            and not self._expired(ctx, credential)
        ):
            consumer_ref = credential.get("consumer") or {}
            consumer = snapshot.consumers.get(consumer_ref.get("id"))
        if consumer is None or credential is None:
            authn.fail(ctx, conf, _unauthorized(cfg, INVALID))
            return
        authn.set_consumer(ctx, consumer, credential, credential["id"])

    def _expired(self, ctx: ProxyContext, credential: dict[str, Any]) -> bool:
        """Whether a credential created with a ``ttl`` has run out, by ``ctx.clock``.

        Snapshot rows carry ``ttl`` = seconds left when the snapshot was read.
        With ``snapshot.built_at`` the expiry is exact; without it, it is
        anchored at the first time this snapshot's credential is seen.
        """
        ttl = credential.get("ttl")
        if ttl is None:
            return False
        now = ctx.clock.seconds()
        snapshot = ctx.snapshot
        built_at = getattr(snapshot, "built_at", None)
        if built_at is not None:
            return bool(now >= built_at + ttl)
        expiries = self._expiry.get(snapshot)
        if expiries is None:
            expiries = self._expiry[snapshot] = {}
        expires_at = expiries.get(credential["id"])
        if expires_at is None:
            expires_at = expiries[credential["id"]] = now + ttl
        return bool(now >= expires_at)


def _same(stored: Any, given: str) -> bool:
    if not isinstance(stored, str):
        return False
    return hmac.compare_digest(stored.encode("utf-8"), given.encode("utf-8"))


def _hide(ctx: ProxyContext, cfg: KeyAuthConfig, name: str, parsed: Any) -> None:
    """hide_credentials: drop the key from the header, the query string and the body."""
    ctx.request.headers.remove(name)
    pairs = ctx.query_args()
    if any(k == name for k, _ in pairs):
        ctx.set_query_args([(k, v) for k, v in pairs if k != name])
    if cfg.in_body and parsed is not None and parsed.get(name) is not None:
        ctx.set_body(parsed.without(name))
