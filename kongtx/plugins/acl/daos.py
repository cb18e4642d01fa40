"""``acls`` (``/acls``, ``/consumers/{c}/acls``): one row per (consumer, group)."""

from __future__ import annotations

from kongtx.schema.entity import Entity
from kongtx.schema.fields import Foreign, String

ACLS = Entity(
    "acls",
    {
        "consumer": Foreign("consumers", required=True, on_delete="cascade"),
        "group": String(required=True),
    },
    admin_path="/acls",
    admin_nested_name="acls",
    cache_key=["consumer", "group"],
)

ENTITIES = (ACLS,)
