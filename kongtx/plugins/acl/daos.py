"""``acls`` (``/acls``, ``/consumers/{c}/acls``): one row per (consumer, group)."""

from __future__ import annotations

from kongtx.schema import typedefs
from kongtx.schema.entity import Entity
from kongtx.schema.fields import String

ACLS = Entity(
    "acls",
    {
        "consumer": typedefs.credential_consumer,
        "group": String(required=True),
    },
    admin_path="/acls",
    admin_nested_name="acls",
    cache_key=["consumer", "group"],
)

ENTITIES = (ACLS,)
