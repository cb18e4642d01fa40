"""``acl`` config (Kong's ``kong/plugins/acl/schema.lua``, 3.x)."""

from __future__ import annotations

from kongtx.schema.checks import AtLeastOneOf, OnlyOneOf
from kongtx.schema.fields import Array, Boolean, Record, String

CONFIG = Record(
    {
        "allow": Array(
            String(),
            description="Consumer groups allowed to use the service or route; other consumers get 403.",
        ),
        "deny": Array(
            String(), description="Consumer groups refused access; every other consumer is allowed."
        ),
        "hide_groups_header": Boolean(
            required=True,
            default=False,
            description="Do not send the X-Consumer-Groups header to the upstream.",
        ),
        "always_use_authenticated_groups": Boolean(
            required=True,
            default=False,
            description="Check the groups an authentication plugin attached to the request "
            "(e.g. ldap-auth) even when a consumer is authenticated.",
        ),
    }
)

OPTIONS = {
    "no_consumer": True,
    "entity_checks": [
        OnlyOneOf(["config.allow", "config.deny"]),
        AtLeastOneOf(["config.allow", "config.deny"]),
    ],
}
