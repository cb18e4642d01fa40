"""``ldap-auth`` config (Kong's ``kong/plugins/ldap-auth/schema.lua``)."""

from __future__ import annotations

from kongtx.schema import typedefs
from kongtx.schema.checks import Conditional
from kongtx.schema.fields import Boolean, Number, Record, String

CONFIG = Record(
    {
        "ldap_host": typedefs.host.derive(required=True, description="Host of the LDAP server."),
        "ldap_port": typedefs.port.derive(
            required=True, default=389, description="Port of the LDAP server."
        ),
        "ldaps": Boolean(
            required=True, default=False, description="Connect with LDAP over TLS (ldaps)."
        ),
        "start_tls": Boolean(
            required=True, default=False, description="Upgrade the connection with StartTLS."
        ),
        "verify_ldap_host": Boolean(
            required=True,
            default=False,
            description="Verify the LDAP server's certificate (lua_ssl_trusted_certificate).",
        ),
        "base_dn": String(required=True, description="Base DN the users are searched under."),
        "attribute": String(
            required=True, description="Attribute holding the username (e.g. cn or uid)."
        ),
        "cache_ttl": Number(
            required=True, default=60, description="Seconds a successful bind is remembered."
        ),
        "hide_credentials": typedefs.hide_credentials(
            description="Remove the credentials header before proxying."
        ),
        "timeout": Number(default=10000, description="Milliseconds to wait for the LDAP server."),
        "keepalive": Number(
            default=60000, description="Milliseconds an idle LDAP connection is kept open."
        ),
        "anonymous": typedefs.anonymous,
        "header_type": String(
            default="ldap", description="Scheme of the Authorization header (ldap by default)."
        ),
        "realm": typedefs.realm,
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
