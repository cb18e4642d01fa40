"""``ldap-auth`` config (Kong's ``kong/plugins/ldap-auth/schema.lua``)."""

from __future__ import annotations

from kongtx.schema import typedefs
from kongtx.schema.checks import Conditional
from kongtx.schema.fields import Boolean, Number, Record, String

CONFIG = Record(
    {
        "ldap_host": typedefs.host.derive(required=True),
        "ldap_port": typedefs.port.derive(required=True, default=389),
        "ldaps": Boolean(required=True, default=False),
        "start_tls": Boolean(required=True, default=False),
        "verify_ldap_host": Boolean(required=True, default=False),
        "base_dn": String(required=True),
        "attribute": String(required=True),
        "cache_ttl": Number(required=True, default=60),
        "hide_credentials": Boolean(required=True, default=False),
        "timeout": Number(default=10000),
        "keepalive": Number(default=60000),
        "anonymous": String(),
        "header_type": String(default="ldap"),
        "realm": String(),
    }
)

OPTIONS = {
    "no_consumer": True,
    "entity_checks": [
        Conditional(
            "config.ldaps",
            {"eq": True},
            "config.start_tls",
            {"eq": False},
            then_err="'ldaps' and 'start_tls' cannot be enabled simultaneously",
        )
    ],
}
