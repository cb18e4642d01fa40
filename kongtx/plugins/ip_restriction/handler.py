"""``ip-restriction`` handler: deny list first, then the allow list (Kong 3.x semantics)."""

from __future__ import annotations

from typing import Any

from kongtx import KONG_COMPAT_VERSION
from kongtx.errors import ProxyExit
from kongtx.plugins.base import ConfigCache, PluginHandler, ProxyContext
from kongtx.plugins.ip_restriction.matcher import IPMatcher, parse_client_ip

UNIDENTIFIED = "Cannot identify the client IP address, unix domain sockets are not supported."


class _Compiled:
    """One config, ready for requests: matchers built, status fixed."""

    __slots__ = ("deny", "allow", "status", "message")

    def __init__(self, conf: dict[str, Any]) -> None:
        self.deny = IPMatcher(conf.get("deny") or ())
        self.allow = IPMatcher(conf.get("allow") or ())
        status = conf.get("status")
        self.status = int(status) if status is not None else 403
        self.message: str | None = conf.get("message")


def check(compiled: _Compiled, client_ip: str | None) -> ProxyExit | None:
    """The exit refusing ``client_ip`` under ``compiled``, or ``None`` to let it through."""
    address = parse_client_ip(client_ip)
    if address is None:
        return ProxyExit(403, UNIDENTIFIED)
    blocked = bool(compiled.deny) and compiled.deny.matches(address)
    if not blocked and compiled.allow:
        blocked = not compiled.allow.matches(address)
    if not blocked:
        return None
    message = compiled.message
    if message is None:
        message = f"IP address not allowed: {client_ip}"
    return ProxyExit(compiled.status, message)


class IpRestrictionHandler(PluginHandler):
    """Refuses clients whose (real) IP is denied or not allowed."""

    name = "ip-restriction"
    priority = 990
    version = KONG_COMPAT_VERSION

    def __init__(self) -> None:
        self._compiled: ConfigCache[_Compiled] = ConfigCache(_Compiled)

    def configure(self, configs: list[dict[str, Any]]) -> None:
        """Compile every config of the new snapshot (and forget the old ones)."""
        self._compiled.reset(configs)

    def compiled(self, conf: dict[str, Any]) -> _Compiled:
        """The compiled form of ``conf`` (built on first use if configure did not see it)."""
        return self._compiled.get(conf)

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> None:
        refusal = check(self._compiled.get(conf), ctx.client_ip)
        if refusal is not None:
            raise refusal
