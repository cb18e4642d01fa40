"""Listener values: Kong's ``addr:port [flags]`` or Twisted endpoint strings."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

_LISTENER_FLAGS = frozenset({"ssl", "http2", "proxy_protocol", "deferred", "bind", "reuseport"})
_LISTENER_KV_FLAGS = ("backlog=", "ipv6only=", "so_keepalive=")
_ENDPOINT_PREFIXES = ("tcp:", "tcp6:", "ssl:", "unix:", "systemd:")
#: nginx's listen backlog on Linux (Twisted's own default is 50): a burst of connections
#: beyond the backlog is lost before the reactor sees it.
DEFAULT_BACKLOG = 511


@dataclass(frozen=True)
class Listener:
    """One listening socket.

    :param endpoint: a Twisted server endpoint string (``tcp:8000:interface=0.0.0.0``).
        For a Kong-style ``ssl`` listener this is the plain TCP endpoint: the
        gateway wraps it with the SNI context of :mod:`kongtx.tls`.
    :param ssl: whether clients speak TLS on it.
    :param flags: Kong flags (``ssl``, ``http2``, ``reuseport``, ``backlog=N`` ...).
    :param host: the bound address (``0.0.0.0``, ``::``), or a socket path for ``unix:``.
    :param port: the bound port (0 when the kernel picks one or for ``unix:``).
    :param listener: the listener as written in the configuration.
    """

    endpoint: str
    ssl: bool
    flags: frozenset[str]
    host: str
    port: int
    listener: str = ""

    @property
    def needs_tls_wrap(self) -> bool:
        """True when the gateway must add TLS itself (``ssl`` flag on a plain endpoint)."""
        return self.ssl and not self.endpoint.startswith("ssl:")

    @property
    def backlog(self) -> int | None:
        """The ``backlog=N`` flag, if any."""
        return _backlog_flag(self.flags)

    def describe(self) -> dict[str, Any]:
        """Kong's ``proxy_listeners`` entry for ``GET /``."""
        out: dict[str, Any] = {"ip": self.host, "port": self.port, "listener": self.listener}
        for flag in sorted(_LISTENER_FLAGS):
            out[flag] = flag in self.flags
        out["backlog"] = self.backlog
        return out


def _backlog_flag(flags: Any) -> int | None:
    for flag in flags:
        if flag.startswith("backlog="):
            backlog = flag[8:]
            if not backlog.isdigit() or int(backlog) < 1:
                raise ValueError(f"invalid backlog {flag!r}")
            return int(backlog)
    return None


def _escape_endpoint(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def _raw_endpoint(spec: str, flags: list[str]) -> Listener:
    """A listener written as a Twisted endpoint string, with optional Kong flags after it."""
    kind = spec.split(":", 1)[0]
    parts = re.split(r"(?<!\\):", spec)
    host = "0.0.0.0" if kind in ("tcp", "ssl") else ("::" if kind == "tcp6" else "")
    port = 0
    for i, part in enumerate(parts[1:]):
        key, eq, val = part.partition("=")
        if not eq and i == 0:
            key, val = ("address" if kind == "unix" else "port"), part
        val = val.replace("\\:", ":")
        if key == "port":
            if not val.isdigit() or int(val) > 65535:
                raise ValueError(f"invalid port {val!r} in endpoint {spec!r}")
            port = int(val)
        elif key in ("interface", "address"):
            host = val
    if kind in ("tcp", "tcp6", "ssl") and len(parts) < 2:
        raise ValueError(f"endpoint {spec!r} has no port")
    fset = frozenset(flags) | ({"ssl"} if kind == "ssl" else frozenset())
    listener = " ".join([spec, *flags])
    endpoint = spec
    if kind in ("tcp", "tcp6", "ssl", "unix") and not any(
        part.startswith("backlog=") for part in parts[1:]
    ):
        endpoint += f":backlog={_backlog_flag(fset) or DEFAULT_BACKLOG}"
    return Listener(endpoint, "ssl" in fset, fset, host, port, listener)


def _kong_listener(addr: str, flags: list[str]) -> Listener:
    """``addr:port [flags]`` as in Kong (``0.0.0.0:8000``, ``[::]:8443 ssl``, ``*:80``)."""
    host, sep, port_s = addr.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{addr!r} is not of the form address:port")
    if not port_s.isdigit() or int(port_s) > 65535:
        raise ValueError(f"invalid port {port_s!r}")
    port = int(port_s)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"invalid IPv6 address {host!r}") from None
        ipv6 = True
    elif host == "*":
        host, ipv6 = "0.0.0.0", False
    else:
        if ":" in host:
            raise ValueError(f"IPv6 address {host!r} must be written in brackets: [{host}]:{port}")
        if not re.match(r"^[A-Za-z0-9.-]+$", host):
            raise ValueError(f"invalid address {host!r}")
        ipv6 = False
    endpoint = f"{'tcp6' if ipv6 else 'tcp'}:{port}:interface={_escape_endpoint(host)}"
    fset = frozenset(flags)
    endpoint += f":backlog={_backlog_flag(fset) or DEFAULT_BACKLOG}"
    return Listener(endpoint, "ssl" in fset, fset, host, port, " ".join([addr, *flags]))


def parse_listeners(raw: str) -> list[Listener]:
    """Parse a listeners value: ``off``, Kong's ``addr:port [flags]`` or endpoint strings.

    Entries are comma-separated; ``off`` alone means no listener.

    :raises ValueError: an entry is malformed (the message says which).
    """
    if raw.strip().lower() == "off":
        return []
    out = []
    for entry in raw.split(","):
        words = entry.split()
        if not words:
            continue
        head, flags = words[0], words[1:]
        for flag in flags:
            if flag not in _LISTENER_FLAGS and not flag.startswith(_LISTENER_KV_FLAGS):
                raise ValueError(f"unknown flag {flag!r} in {entry.strip()!r}")
        if head.startswith(_ENDPOINT_PREFIXES):
            out.append(_raw_endpoint(head, flags))
        else:
            out.append(_kong_listener(head, flags))
    return out
