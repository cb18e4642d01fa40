"""``snis`` (Kong's ``snis.lua``): names bound to a certificate."""

from __future__ import annotations

from kongtx.schema import typedefs
from kongtx.schema.entity import Entity
from kongtx.schema.fields import Foreign


def build() -> Entity:
    """A new ``snis`` entity (deleting a certificate deletes its SNIs, as in Kong)."""
    return Entity(
        "snis",
        {
            "name": typedefs.wildcard_host(required=True, unique=True),
            "certificate": Foreign("certificates", required=True, on_delete="cascade"),
        },
        updated_at=True,
        endpoint_key="name",
    )
