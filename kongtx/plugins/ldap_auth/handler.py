"""``ldap-auth`` (Kong's ``kong/plugins/ldap-auth/access.lua``, priority 1200).

``Proxy-Authorization`` then ``Authorization`` carry ``<header_type>
base64(user:password)``; the user is bound as ``<attribute>=<user>,<base_dn>``
through ldaptor, on the reactor. Outcomes (success and refusal) are cached
for ``cache_ttl`` seconds, so a hit answers synchronously. No consumer is
set (only the credential, ``X-Credential-Identifier: <user>``) unless the
anonymous consumer is used. An unreachable server is a 500.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kongtx import KONG_COMPAT_VERSION
from kongtx.errors import ProxyExit
from kongtx.plugins import authn
from kongtx.plugins.base import PluginHandler, PluginNode, ProxyContext
from kongtx.plugins.ldap_auth.cache import MISS, BindCache
from kongtx.plugins.ldap_auth.client import (
    LdapBinder,
    LdapServer,
    LdapUnavailable,
    escape_dn_value,
)
from kongtx.plugins.userpass import decode_user_password

if TYPE_CHECKING:
    pass

__all__ = ["LdapAuthHandler", "LdapConfig", "parse_credentials"]

log = Logger()
_USER_PASSWORD = re.compile(rb"(.+):(.+)", re.DOTALL)


class LdapConfig:
    """A plugin config digested once: the server, the bind DN template, the challenge."""

    __slots__ = ("server", "scheme_re", "attribute", "base_dn", "scope", "ttl", "www_authenticate")

    def __init__(self, conf: dict[str, Any]) -> None:
        self.server = LdapServer(
            host=conf["ldap_host"],
            port=int(conf["ldap_port"]),
            ldaps=bool(conf.get("ldaps")),
            start_tls=bool(conf.get("start_tls")),
            verify=bool(conf.get("verify_ldap_host")),
            timeout=float(conf.get("timeout") or 10000) / 1000.0,
            keepalive=float(conf.get("keepalive") or 0) / 1000.0,
        )
        header_type = conf.get("header_type") or "ldap"
        self.scheme_re = re.compile(r"^\s*" + re.escape(header_type.lower()) + r"\s+")
        self.attribute = conf["attribute"]
        self.base_dn = conf["base_dn"]
        self.ttl = float(conf.get("cache_ttl") or 0)
        s = self.server
        self.scope = "\x00".join(
            map(
                str,
                (
                    s.host.lower(),
                    s.port,
                    s.ldaps,
                    s.start_tls,
                    s.verify,
                    self.base_dn,
                    self.attribute,
                ),
            )
        )
        scheme = "LDAP" if header_type == "ldap" else header_type
        realm = conf.get("realm")
        self.www_authenticate = f'{scheme} realm="{realm}"' if realm is not None else scheme

    def bind_dn(self, username: str) -> str:
        return f"{self.attribute}={escape_dn_value(username)},{self.base_dn}"


def parse_credentials(cfg: LdapConfig, value: str | None) -> tuple[str, bytes] | None:
    """``(username, password)`` from ``<header_type> base64(user:password)``, or None.

    As Kong: the scheme is matched case-insensitively at the start, the user
    is everything up to the last ``:``, neither part may be empty.
    """
    if not value:
        return None
    m = cfg.scheme_re.match(value.lower())
    if m is None:
        return None
    token = value[m.end() :].strip().encode("latin-1")
    return decode_user_password(token, _USER_PASSWORD.fullmatch)


def _unauthorized(cfg: LdapConfig) -> ProxyExit:
    return ProxyExit(401, "Unauthorized", headers=[("WWW-Authenticate", cfg.www_authenticate)])


class LdapAuthHandler(PluginHandler):
    """The ``ldap-auth`` plugin."""

    name = "ldap-auth"
    priority = 1200
    version = KONG_COMPAT_VERSION

    def __init__(self) -> None:
        self._binder: LdapBinder | None = None
        self._cache: BindCache | None = None
        self._ca_pems: tuple[str, ...] = ()

    def init_worker(self, node: PluginNode) -> None:
        """Node start: the reactor to bind on and the CAs trusted for ``verify_ldap_host``
        (``lua_ssl_trusted_certificate`` files; ``system`` is the system store)."""
        reactor = node.reactor
        pems = []
        for item in node.config.lua_ssl_trusted_certificate:
            if item != "system":
                with open(item, encoding="utf-8") as fh:
                    pems.append(fh.read())
        self._ca_pems = tuple(pems)
        self._binder = LdapBinder(reactor, self._ca_pems)
        self._cache = BindCache(reactor)

    def _parts(self, ctx: ProxyContext) -> tuple[LdapBinder, BindCache]:
        if self._binder is None or self._cache is None:
            self._binder = LdapBinder(ctx.clock, self._ca_pems)
            self._cache = BindCache(ctx.clock)
        return self._binder, self._cache

    def compile(self, conf: dict[str, Any], plugin: Mapping[str, Any] | None = None) -> Any:
        """Digest one configuration (once, in the snapshot)."""
        return LdapConfig(conf)

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> Deferred[None] | None:
        """Authenticate the request, or answer 401 (or fall back to ``anonymous``)."""
        if authn.or_already_done(ctx, conf.get("anonymous")):
            return None
        cfg = self.compiled(conf)
        headers = ctx.request.headers
        if "authorization" not in headers and "proxy-authorization" not in headers:
            return authn.fail(ctx, conf.get("anonymous"), _unauthorized(cfg))
        _, cache = self._parts(ctx)
        attempts = [
            parse_credentials(cfg, headers.get("proxy-authorization")),
            parse_credentials(cfg, headers.get("authorization")),
        ]
        for given in attempts:
            if given is None:
                continue
            outcome = cache.peek(cache.key(cfg.scope, *given))
            if outcome is MISS:
                return Deferred.fromCoroutine(self._access_slow(ctx, conf, cfg, attempts))
            if outcome:
                self._success(ctx, conf, given[0])
                return None
        return authn.fail(ctx, conf.get("anonymous"), _unauthorized(cfg))

    async def _access_slow(
        self, ctx: ProxyContext, conf: dict[str, Any], cfg: LdapConfig, attempts: list[Any]
    ) -> None:
        binder, cache = self._parts(ctx)
        for given in attempts:
            if given is None:
                continue
            username, password = given
            key = cache.key(cfg.scope, username, password)
            try:
                ok = await cache.get(
                    key, cfg.ttl, partial(binder.bind, cfg.server, cfg.bind_dn(username), password)
                )
            except LdapUnavailable as exc:
                log.error("ldap-auth: {error}", error=str(exc))
                raise ProxyExit(500, "An unexpected error occurred") from None
            if ok:
                self._success(ctx, conf, username)
                return
        failed = authn.fail(ctx, conf.get("anonymous"), _unauthorized(cfg))
        if failed is not None:
            await failed

    @staticmethod
    def _success(ctx: ProxyContext, conf: dict[str, Any], username: str) -> None:
        if conf.get("hide_credentials"):
            ctx.request.headers.remove("authorization")
            ctx.request.headers.remove("proxy-authorization")
        authn.set_consumer(ctx, None, {"id": None, "username": username}, username)
