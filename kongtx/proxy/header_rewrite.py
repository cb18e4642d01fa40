"""Building the upstream request: client IP, forwarded headers, Host, hop-by-hop (proxy.md §2)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Iterable

from kongtx.http.headers import Headers
from kongtx.router import split_host_port

#: Hop-by-hop headers never forwarded (RFC 7230 §6.1, plus nginx/Kong's extras).
HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "proxy-authenticate",
    )
)
RESPONSE_HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    )
)

IDEMPOTENT = frozenset(("GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"))


class TrustedIPs:
    """The ``trusted_ips`` setting: whose X-Forwarded-* and real-IP headers are believed."""

    def __init__(self, entries: Iterable[str]) -> None:
        nets = []
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            if entry == "unix:":
                continue
            nets.append(ipaddress.ip_network(entry, strict=False))
        self._nets = tuple(nets)
        self._cache: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self._nets)

    def __contains__(self, ip: str) -> bool:
        if not self._nets:
            return False
        known = self._cache.get(ip)
        if known is not None:
            return known
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            result = False
        else:
            result = any(address in net for net in self._nets)
        if len(self._cache) < 10000:
            self._cache[ip] = result
        return result


def real_client_ip(
    peer: str, headers: Headers, trusted: TrustedIPs, header: str, recursive: bool
) -> str:
    """nginx realip: take the client IP from ``header`` when the peer is trusted."""
    if not trusted or peer not in trusted:
        return peer
    value = headers.get(header)
    if not value:
        return peer
    addresses = [a.strip() for a in value.split(",") if a.strip()]
    if not addresses:
        return peer
    if not recursive:
        return addresses[-1]
    for address in reversed(addresses):
        if address not in trusted:
            return address
    return addresses[0]


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None


def strip_hop_by_hop(headers: Headers, names: frozenset[str]) -> dict[str, list[str]]:
    """Remove hop-by-hop fields (and those the client's Connection names) in one pass.

    :returns: the removed fields by lower-case name (``upgrade``, ``te``... for the caller).
    """
    taken = headers.take(names)
    connection = taken.get("connection")
    if connection:
        listed = {token.strip().lower() for value in connection for token in value.split(",")} - {
            "",
            "close",
            "keep-alive",
            "upgrade",
        }
        if listed:
            taken.update(headers.take(listed))
    return taken


#: What nginx's host validation refuses (and userinfo, which a Host never carries).
_BAD_HOST = re.compile(r"[\x00-\x20\x7f/\\@]|\.\.")


def valid_host(value: str | None) -> bool:
    """Whether a request's ``Host`` is acceptable (absent is: HTTP/1.0); nginx answers 400
    to an empty one, or one with whitespace, a slash, ``..`` or userinfo."""
    if value is None:
        return True
    return bool(value) and value != "." and _BAD_HOST.search(value) is None


def upstream_host(
    plugin_host: str | None,
    preserved_host: str | None,
    service_host: str | None,
    service: Mapping[str, Any],
    hostname: str,
    port: int,
) -> str:
    """The Host header sent upstream (decided here only), in Kong's order of precedence.

    :param plugin_host: what a plugin set (``ctx.upstream_host``): it wins.
    :param preserved_host: the client's Host when the route has ``preserve_host``.
    :param service_host: the service's own Host, computed once per snapshot when
        the service is not a balanced upstream.
    :param hostname: the target's host (a balancer target, or its ``host_header``).
    :param port: the target's port.
    """
    if plugin_host is not None:
        return plugin_host
    if preserved_host:
        return preserved_host
    if service_host is not None:
        return service_host
    return host_header(service, hostname, port)


def host_header(service: Mapping[str, Any], hostname: str, port: int) -> str:
    """Host sent upstream when ``preserve_host`` is off: host, plus port unless the default."""
    protocol = service.get("protocol") or "http"
    if (port == 80 and protocol in ("http", "grpc")) or (
        port == 443 and protocol in ("https", "grpcs")
    ):
        return hostname
    return f"{hostname}:{port}"


def split_host(host: str | None) -> tuple[str, int | None]:
    """Split a Host header into host and port, as the router does (IPv6 literals kept in brackets)."""
    return split_host_port(host) if host else ("", None)


#: Fields the gateway rewrites on every upstream request (removed first, then set again).
FORWARDED = frozenset(
    (
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-forwarded-path",
        "x-forwarded-prefix",
        "x-real-ip",
    )
)


def forwarded_headers(
    taken: dict[str, list[str]],
    *,
    trusted: bool,
    peer: str,
    client_ip: str,
    scheme: str,
    host: str,
    server_port: int,
    path: str,
    prefix: str | None,
) -> list[tuple[str, str]]:
    """X-Forwarded-For/-Proto/-Host/-Port/-Path/-Prefix and X-Real-IP as Kong sets them
    (proxy.md §2.4), from the client's copies in ``taken`` (see :data:`FORWARDED`)."""
    xff = taken.get("x-forwarded-for")
    fields = [("X-Forwarded-For", f"{', '.join(xff)}, {peer}" if xff else peer)]
    if trusted:
        proto = _first(taken.get("x-forwarded-proto")) or scheme
        fhost = _first(taken.get("x-forwarded-host")) or host
        fport = _first(taken.get("x-forwarded-port")) or str(server_port)
        fpath = _first(taken.get("x-forwarded-path")) or path
        fprefix = _first(taken.get("x-forwarded-prefix")) or prefix
    else:
        proto, fhost, fport, fpath, fprefix = scheme, host, str(server_port), path, prefix
    fields.append(("X-Forwarded-Proto", proto))
    fields.append(("X-Forwarded-Host", fhost))
    fields.append(("X-Forwarded-Port", fport))
    fields.append(("X-Forwarded-Path", fpath))
    if fprefix and fprefix != "/":
        fields.append(("X-Forwarded-Prefix", fprefix))
    fields.append(("X-Real-IP", client_ip))
    return fields
