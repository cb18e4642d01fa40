"""``plugins`` (Kong's ``plugins.lua``): ``config`` is specialized per plugin name."""

from __future__ import annotations

from kongtx.schema import typedefs
from kongtx.schema.entity import Entity
from kongtx.schema.fields import Boolean, Foreign, Record, String


def not_enabled_message(name: object) -> str:
    """Kong's message for a plugin row whose ``name`` is not a loaded plugin."""
    return "plugin '%s' not enabled; add it to the 'plugins' configuration property" % (name,)


def build() -> Entity:
    """A new ``plugins`` entity; the registry installs each plugin's subschema."""
    return Entity(
        "plugins",
        {
            "name": String(required=True, immutable=False),
            "instance_name": typedefs.utf8_name(),
            "created_at": typedefs.auto_timestamp_s(),
            "updated_at": typedefs.auto_timestamp_s(),
            "route": Foreign("routes", on_delete="cascade"),
            "service": Foreign("services", on_delete="cascade"),
            "consumer": Foreign("consumers", on_delete="cascade"),
            "config": Record({}, abstract=True),
            "protocols": typedefs.protocols(),
            "enabled": Boolean(required=True, default=True),
        },
        endpoint_key="instance_name",
        cache_key=["name", "route", "service", "consumer"],
        subschema_key="name",
        subschema_error=not_enabled_message,
    )
