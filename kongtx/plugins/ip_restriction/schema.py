"""``ip-restriction`` config (Kong's ``kong/plugins/ip-restriction/schema.lua``)."""

from __future__ import annotations

from kongtx.schema import typedefs
from kongtx.schema.checks import AtLeastOneOf
from kongtx.schema.fields import Array, Number, Record, String

CONFIG = Record(
    {
        "allow": Array(
            typedefs.ip_or_cidr,
            description="Client addresses or CIDR ranges allowed; all others are refused.",
        ),
        "deny": Array(typedefs.ip_or_cidr, description="Client addresses or CIDR ranges refused."),
        "status": Number(description="HTTP status of the refusal (default 403)."),
        "message": String(
            description="Message of the refusal (default 'IP address not allowed: <ip>')."
        ),
    }
)

OPTIONS = {
    "protocols": ["http", "https", "tcp", "tls", "grpc", "grpcs"],
    "entity_checks": [AtLeastOneOf(["config.allow", "config.deny"])],
}
