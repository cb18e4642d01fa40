"""``ip-restriction`` handler: deny list first, then the allow list (Kong 3.x semantics)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kongtx import KONG_COMPAT_VERSION
from kongtx.errors import ProxyExit
from kongtx.plugins.base import PluginHandler, ProxyContext
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

    def compile(self, conf: dict[str, Any], plugin: Mapping[str, Any] | None = None) -> Any:
        """Digest one configuration (once, in the snapshot)."""
        return _Compiled(conf)

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> None:
        refusal = check(self.compiled(conf), ctx.client_ip)
        if refusal is not None:
            raise refusal
