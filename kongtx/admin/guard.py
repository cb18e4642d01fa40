"""Who may drive the Admin API from a browser: ``Host`` allow-list and ``Origin`` policy.

Kong 3.x grants CORS to the origins of ``admin_gui_origin``. kongtx goes further,
because a loopback Admin API is otherwise open to any web page in the operator's
browser:

* a request whose ``Origin`` is neither listed in ``admin_gui_origin`` nor the Admin
  API's own origin is refused (403), so a page elsewhere can neither read from it nor
  post to it (a form POST needs no preflight);
* a request whose ``Host`` is not a name the Admin API answers to is refused (403):
  a DNS-rebound name pointing at 127.0.0.1 is same-origin for the browser, but its
  ``Host`` gives it away. ``admin_allowed_hosts``: ``auto`` (the loopback names when
  every admin listener is on loopback, else any), ``*`` (any), or a list of names.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kongtx.proxy.header_rewrite import valid_host
from kongtx.router import split_host_port

if TYPE_CHECKING:
    from kongtx.config import Config

__all__ = ["AdminGuard"]

_LOOPBACK_NAMES = frozenset(("localhost", "127.0.0.1", "::1"))


def _bare_host(host: str) -> str:
    """A host name without port, brackets or trailing dot, lower-cased."""
    name = split_host_port(host)[0].strip("[]").lower()
    return name[:-1] if name.endswith(".") else name


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _allowed_hosts(setting: Iterable[str], listeners: Iterable[Any]) -> frozenset[str] | None:
    names = [entry.strip() for entry in setting if entry.strip()]
    if not names or "*" in names:
        return None
    if names == ["auto"]:
        hosts = [listener.host for listener in listeners]
        if not hosts or not all(_is_loopback(host) for host in hosts):
            return None
        return _LOOPBACK_NAMES | {_bare_host(host) for host in hosts}
    return frozenset(_bare_host(name) for name in names if name != "auto")


class AdminGuard:
    """Decides, per request, whether the Admin API serves it and which CORS origin it grants.

    :param config: the node's ``Config`` (``admin_gui_origin``, ``admin_allowed_hosts``,
        ``admin_listen``); ``None`` allows every host and origin.
    :param listeners: the listeners served (default ``admin_listen``; the Status API's own).
    """

    def __init__(self, config: Config | None, listeners: Any = None) -> None:
        origins = (config.admin_gui_origin if config is not None else None) or []
        self.origins: list[str] = [o.rstrip("/") for o in origins]
        if listeners is None:
            listeners = config.admin_listen if config is not None else []
        allowed = (config.admin_allowed_hosts if config is not None else None) or ["*"]
        self.hosts = _allowed_hosts(allowed, listeners)

    def refusal(self, host: str | None, origin: str | None) -> tuple[int, str] | None:
        """``(status, message)`` when the request must not be served, else ``None``."""
        if not valid_host(host):
            return 400, "Bad request"
        if self.hosts is not None and host is not None and _bare_host(host) not in self.hosts:
            return 403, "Host not allowed"
        if origin is not None and not self._origin_allowed(origin, host):
            return 403, "Origin not allowed"
        return None

    def _origin_allowed(self, origin: str, host: str | None) -> bool:
        if origin.rstrip("/") in self.origins:
            return True
        parts = urlsplit(origin)
        return (
            host is not None
            and parts.scheme in ("http", "https")
            and parts.netloc.lower() == host.lower()
        )

    def cors_origin(self, origin: str | None) -> str:
        """``Access-Control-Allow-Origin`` for a served request, as Kong 3.x computes it."""
        if self.origins:
            return (
                origin
                if origin is not None and origin.rstrip("/") in self.origins
                else self.origins[0]
            )
        return origin or "*"
