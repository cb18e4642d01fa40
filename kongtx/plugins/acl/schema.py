"""``acl`` config (Kong's ``kong/plugins/acl/schema.lua``, 3.x)."""

from __future__ import annotations

from kongtx.schema.checks import AtLeastOneOf, OnlyOneOf
from kongtx.schema.fields import Array, Boolean, Record, String

CONFIG = Record(
    {
        "allow": Array(String()),
        "deny": Array(String()),
        "hide_groups_header": Boolean(required=True, default=False),
        "always_use_authenticated_groups": Boolean(required=True, default=False),
    }
)

OPTIONS = {
    "no_consumer": True,
    "entity_checks": [
        OnlyOneOf(["config.allow", "config.deny"]),
        AtLeastOneOf(["config.allow", "config.deny"]),
    ],
}
