"""``services`` (Kong's ``services.lua``) and the ``url`` shorthand."""

from __future__ import annotations

import re
from typing import Any

from kongtx.schema import typedefs
from kongtx.schema.checks import Conditional
from kongtx.schema.entity import Entity, schema_violation
from kongtx.schema.fields import Array, Boolean, Foreign, Integer, String

_SCHEME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9+\-.]*):")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_DEFAULT_PORT = 80


def split_url(url: str) -> dict[str, str]:
    """Split ``url`` as LuaSocket's ``url.parse`` does (the parser Kong's shorthand uses).

    Returns the parts found among ``scheme``, ``host``, ``port`` (text) and
    ``path``. No ``//`` means no authority: ``"example.com"`` is a path, and
    ``"example.com:8000"`` a scheme and a path.
    """
    parts: dict[str, str] = {}
    rest = url
    scheme = _SCHEME.match(rest)
    if scheme:
        parts["scheme"] = scheme.group(1)
        rest = rest[scheme.end() :]
    authority = None
    if rest.startswith("//"):
        end = rest.find("/", 2)
        authority, rest = (rest[2:], "") if end < 0 else (rest[2:end], rest[end:])
    for mark in "#?;":  # fragment, query, params: not part of the path
        rest = rest.split(mark, 1)[0]
    if rest:
        parts["path"] = rest
    if authority is None:
        return parts
    authority = authority.split("@", 1)[1] if "@" in authority else authority
    port = re.search(r":([^:\]]*)$", authority)
    if port:
        parts["port"] = port.group(1)
        authority = authority[: port.start()]
    if authority:
        ipv6 = re.match(r"^\[(.+)\]$", authority)
        # kongtx keeps IPv6 literals bracketed in ``host``
        parts["host"] = f"[{ipv6.group(1)}]" if ipv6 else authority
    return parts


def parse_service_url(url: str) -> dict[str, Any]:
    """Kong's ``url`` shorthand: ``protocol``/``host``/``port``/``path`` from ``url``.

    Without a scheme the protocol is ``https`` for port 443, else ``http``;
    without a port it is 80, or 443 for https/wss. Missing parts are ``None``
    and left to validation (``"invalid url"`` has no host and a path without
    ``/``). A port that is not a number stays text for validation to refuse.
    """
    parts = split_url(url)
    raw_port = parts.get("port")
    port: int | str | None = int(raw_port) if raw_port and raw_port.isdigit() else raw_port
    implied = {80: "http", 443: "https"}.get(port) if isinstance(port, int) else None
    protocol = parts.get("scheme") or implied or "http"
    if port is None:
        port = _DEFAULT_PORTS.get(protocol, _DEFAULT_PORT)
    return {
        "protocol": protocol,
        "host": parts.get("host"),
        "port": port,
        "path": parts.get("path"),
    }


def _url_shorthand(data: dict[str, Any], op: str) -> dict[str, Any]:
    """``url`` replaces protocol, host, port and path (Kong: the shorthand's values win)."""
    if "url" not in data:
        return data
    out = dict(data)
    url = out.pop("url")
    if url is None or url == "":
        return out
    if not isinstance(url, str):
        raise schema_violation({"url": "expected a string"})
    out.update(parse_service_url(url))
    return out


def _tls_only(field: str) -> Conditional:
    return Conditional("protocol", {"not_one_of": ["https", "tls"]}, field, {"eq": None})


def build() -> Entity:
    """A new ``services`` entity."""
    timeout = typedefs.timeout(default=60000, between=(1, 2**31 - 2))
    return Entity(
        "services",
        {
            "name": typedefs.utf8_name(),
            "retries": Integer(default=5, between=(0, 32767)),
            "protocol": String(required=True, default="http", one_of=typedefs.PROTOCOLS),
            "host": typedefs.host(required=True),
            "port": typedefs.port(required=True, default=80),
            "path": typedefs.path(),
            "connect_timeout": timeout,
            "write_timeout": timeout,
            "read_timeout": timeout,
            "tags": typedefs.tags(),
            "client_certificate": Foreign("certificates"),
            "tls_verify": Boolean(),
            "tls_verify_depth": Integer(between=(0, 64)),
            "ca_certificates": Array(String(uuid=True)),
            "enabled": Boolean(required=True, default=True),
        },
        updated_at=True,
        endpoint_key="name",
        shorthands=[_url_shorthand],
        entity_checks=[
            Conditional(
                "protocol",
                {"one_of": ["tcp", "tls", "tls_passthrough", "udp", "grpc", "grpcs"]},
                "path",
                {"eq": None},
            ),
            _tls_only("client_certificate"),
            _tls_only("tls_verify"),
            _tls_only("tls_verify_depth"),
            _tls_only("ca_certificates"),
        ],
    )
