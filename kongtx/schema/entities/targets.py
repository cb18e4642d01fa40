"""``targets`` (Kong's ``targets.lua``): ``host[:port]`` of an upstream, default port 8000."""

from __future__ import annotations

from typing import Any

from kongtx.schema import typedefs
from kongtx.schema.entity import Entity, schema_violation
from kongtx.schema.fields import Foreign, Integer, String

DEFAULT_PORT = 8000
INVALID_TARGET = "Invalid target; not a valid hostname or ip address"


def normalize_target(target: str) -> str:
    """Return ``target`` as ``host:port`` (``[v6]:port``), adding port 8000.

    :raises ValueError: if it is not a hostname or IP address.
    """
    kind, host, port = typedefs.parse_host(target)
    if port is None:
        port = DEFAULT_PORT
    if kind == "ipv6":
        host = "[%s]" % host
    return "%s:%d" % (host, port)


def _validate_target(target: str) -> str | None:
    try:
        typedefs.parse_host(target)
    except ValueError:
        return "Invalid target ('%s'); not a valid hostname or ip address" % target
    return None


def _normalize(data: dict[str, Any], op: str) -> dict[str, Any]:
    """Format ``target``; inserts and upserts refuse a bad one before any other check (Kong's DAO)."""
    target = data.get("target")
    if isinstance(target, str):
        try:
            return {**data, "target": normalize_target(target)}
        except ValueError:
            if op in ("insert", "upsert"):
                raise schema_violation({"target": INVALID_TARGET}) from None
            return data  # an update: validate() reports it with the schema's message
    return data


def build() -> Entity:
    """A new ``targets`` entity (timestamps are float seconds with ms precision)."""
    return Entity(
        "targets",
        {
            "upstream": Foreign("upstreams", required=True, on_delete="cascade"),
            "target": String(required=True, validators=[_validate_target]),
            "weight": Integer(default=100, between=(0, 65535)),
        },
        updated_at=True,
        timestamp_ms=True,
        endpoint_key="target",
        cache_key=["upstream", "target"],
        shorthands=[_normalize],
        admin_top_level=False,
    )
