"""``consumers`` (Kong's ``kong/db/schema/entities/consumers.lua``)."""

from __future__ import annotations

from kongtx.schema.checks import AtLeastOneOf
from kongtx.schema.entity import Entity
from kongtx.schema.fields import String


def build() -> Entity:
    """A new ``consumers`` entity."""
    return Entity(
        "consumers",
        {"username": String(unique=True), "custom_id": String(unique=True)},
        updated_at=True,
        endpoint_key="username",
        entity_checks=[AtLeastOneOf(["custom_id", "username"])],
    )
