"""``key-auth`` (Kong's ``kong/plugins/key-auth/handler.lua``, priority 1250).

For each of ``key_names`` in order the key is looked for in the headers, then
the query string, then (``key_in_body``) the body; the first string value
wins, a repeated value is a duplicate (401). The credential and its consumer
come from the entity cache (``keyauth_credentials:<key>:::::`` and
``consumers:<id>:::::``): no I/O on a hit, one indexed query on a miss. An
expiring credential (``ttl``) is cached no longer than it lives.
The request body is only buffered when ``key_in_body`` is set and needed.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from twisted.internet.defer import Deferred

from kongtx import KONG_COMPAT_VERSION
from kongtx.cache import then
from kongtx.errors import ProxyExit
from kongtx.http.request_body import parse_body
from kongtx.plugins import authn
from kongtx.plugins.base import PluginHandler, ProxyContext

__all__ = ["NEED_BODY", "KeyAuthHandler", "KeyAuthConfig", "KeyFound", "find_key", "prepare"]

TABLE = "keyauth_credentials"
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


class KeyFound(NamedTuple):
    """The key and the name it was sent under (a tuple: built on every request)."""

    key: str
    name: str


def find_key(
    cfg: KeyAuthConfig, headers: Any, query: Callable[[], list[tuple[str, str]]], body: Any
) -> Any:
    """Kong's key search: a :class:`KeyFound`, ``None`` (no key) or :data:`NEED_BODY`.

    :param query: returns the query string's pairs (called only when a key is looked for there).
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
            found = [v for k, v in query() if k == name]
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


class KeyAuthHandler(PluginHandler):
    """The ``key-auth`` plugin."""

    name = "key-auth"
    priority = 1250
    version = KONG_COMPAT_VERSION

    def compile(self, conf: dict[str, Any], plugin: Mapping[str, Any] | None = None) -> Any:
        """Digest one configuration (once, in the snapshot)."""
        return prepare(conf)

    def _config(self, conf: dict[str, Any]) -> KeyAuthConfig:
        """The digest of ``conf``."""
        return self.compiled(conf)

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> Deferred[None] | None:
        """Authenticate the request, or answer 401 (or fall back to ``anonymous``)."""
        cfg = self.compiled(conf)
        if not cfg.run_on_preflight and ctx.request.method == "OPTIONS":
            return None
        anonymous = conf.get("anonymous")
        if authn.or_already_done(ctx, anonymous):
            return None
        body: Any = NEED_BODY if cfg.in_body else None
        try:
            found = find_key(cfg, ctx.request.headers, ctx.query_args, body)
        except ProxyExit as exc:
            return authn.fail(ctx, anonymous, exc)
        if found is NEED_BODY or (cfg.in_body and cfg.hide_credentials and found is not None):
            return Deferred.fromCoroutine(self._access_with_body(ctx, anonymous, cfg))
        return self._finish(ctx, anonymous, cfg, found, None)

    async def _access_with_body(
        self, ctx: ProxyContext, anonymous: str | None, cfg: KeyAuthConfig
    ) -> None:
        raw = await ctx.read_body()
        parsed = parse_body(ctx.request.headers.get("content-type"), raw)
        try:
            found = find_key(cfg, ctx.request.headers, ctx.query_args, parsed)
        except ProxyExit as exc:
            await _settled(authn.fail(ctx, anonymous, exc))
            return
        await _settled(self._finish(ctx, anonymous, cfg, found, parsed))

    def _finish(
        self,
        ctx: ProxyContext,
        anonymous: str | None,
        cfg: KeyAuthConfig,
        found: KeyFound | None,
        parsed: Any,
    ) -> Deferred[None] | None:
        if found is not None and cfg.hide_credentials:
            _hide(ctx, cfg, found.name, parsed)
        if found is None or found.key == "":
            return authn.fail(ctx, anonymous, _unauthorized(cfg, NO_KEY))
        key = found.key

        def with_credential(credential: dict[str, Any] | None) -> Any:
            if credential is None or not _same(credential.get("key"), key):
                return authn.fail(ctx, anonymous, _unauthorized(cfg, INVALID))
            consumer_id = (credential.get("consumer") or {}).get("id")
            if consumer_id is None:
                return authn.fail(ctx, anonymous, _unauthorized(cfg, INVALID))

            def with_consumer(consumer: dict[str, Any] | None) -> Any:
                if consumer is None:
                    return authn.fail(ctx, anonymous, _unauthorized(cfg, INVALID))
                authn.set_consumer(ctx, consumer, credential, credential["id"])
                return None

            return then(ctx.entities.consumer(consumer_id), with_consumer)

        return then(ctx.entities.row(TABLE, "key", key), with_credential)


async def _settled(result: Deferred[None] | None) -> None:
    if result is not None:
        await result


def _same(stored: Any, given: str) -> bool:
    """Whether the stored key is ``given`` (a constant-time comparison)."""
    if not isinstance(stored, str):
        return False
    if stored.isascii() and given.isascii():
        return hmac.compare_digest(stored, given)  # ASCII text compares as is: no encoding
    return hmac.compare_digest(stored.encode("utf-8"), given.encode("utf-8"))


def _hide(ctx: ProxyContext, cfg: KeyAuthConfig, name: str, parsed: Any) -> None:
    """hide_credentials: drop the key from the header, the query string and the body."""
    ctx.request.headers.remove(name)
    pairs = ctx.query_args()
    if any(k == name for k, _ in pairs):
        ctx.set_query_args([(k, v) for k, v in pairs if k != name])
    if cfg.in_body and parsed is not None and parsed.get(name) is not None:
        ctx.set_body(parsed.without(name))
