"""``ip-restriction`` config (Kong's ``kong/plugins/ip-restriction/schema.lua``)."""

from __future__ import annotations

from kongtx.schema import typedefs
from kongtx.schema.checks import AtLeastOneOf
from kongtx.schema.fields import Array, Number, Record, String

CONFIG = Record(
    {
        "allow": Array(typedefs.ip_or_cidr),
        "deny": Array(typedefs.ip_or_cidr),
        "status": Number(),
        "message": String(),
    }
)

OPTIONS = {
    "protocols": ["http", "https", "tcp", "tls", "grpc", "grpcs"],
    "entity_checks": [AtLeastOneOf(["config.allow", "config.deny"])],
}
