"""``services`` (Kong's ``services.lua``) and the ``url`` shorthand."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from kongtx.schema import typedefs
from kongtx.schema.checks import Conditional
from kongtx.schema.entity import Entity, schema_violation
from kongtx.schema.fields import Array, Boolean, Foreign, Integer, String

_URL_PARTS = ("protocol", "host", "port", "path")
_DEFAULT_PORTS = {
    "http": 80,
    "https": 443,
    "ws": 80,
    "wss": 443,
    "grpc": 80,
    "grpcs": 443,
}


def parse_service_url(url: str) -> dict[str, Any]:
    """Split a service ``url`` into ``protocol``/``host``/``port``/``path``.

    The scheme defaults to ``http`` (``https`` when the port is 443); the port
    defaults by scheme (80/443).

    :raises ValueError: with Kong's url typedef message.
    """
    text = url if "://" in url else "//" + url
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError("could not parse url. %s" % exc) from None
    if not parts.hostname:
        raise ValueError("missing host in url")
    scheme = parts.scheme.lower() or ("https" if port == 443 else "http")
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
    host = parts.hostname
    if ":" in host:  # IPv6 literal: urlsplit strips the brackets
        host = "[%s]" % host
    return {"protocol": scheme, "host": host, "port": port, "path": parts.path or None}


def _url_shorthand(data: dict[str, Any], op: str) -> dict[str, Any]:
    if "url" not in data:
        return data
    out = dict(data)
    url = out.pop("url")
    if url is None:
        return out
    if not isinstance(url, str):
        raise schema_violation({"url": "expected a string"})
    clashing = [f for f in _URL_PARTS if out.get(f) is not None]
    if clashing:
        raise schema_violation(
            {
                "@entity": [
                    "only one or none of these fields must be set: "
                    + ", ".join("'%s'" % f for f in ["url", *clashing])
                ]
            }
        )
    try:
        out.update(parse_service_url(url))
    except ValueError as exc:
        raise schema_violation({"url": str(exc)}) from None
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
