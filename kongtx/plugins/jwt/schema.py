"""``jwt`` config (Kong's ``kong/plugins/jwt/schema.lua``)."""

from __future__ import annotations

from kongtx.schema import typedefs
from kongtx.schema.checks import Conditional
from kongtx.schema.fields import Boolean, Number, Record, Set, String

CONFIG = Record(
    {
        "uri_param_names": Set(
            String(), default=["jwt"], description="Query arguments searched for the token."
        ),
        "cookie_names": Set(String(), default=[], description="Cookies searched for the token."),
        "key_claim_name": String(
            default="iss", description="Claim naming the credential's key (iss by default)."
        ),
        "secret_is_base64": Boolean(
            required=True, default=False, description="The credential secrets are base64-encoded."
        ),
        "claims_to_verify": Set(
            String(one_of=["exp", "nbf"]), description="Registered claims checked: exp and/or nbf."
        ),
        "anonymous": typedefs.anonymous,
        "run_on_preflight": typedefs.run_on_preflight,
        "maximum_expiration": Number(
            default=0,
            between=(0, 31536000),
            description="Longest lifetime (exp) a token may have, in seconds; 0 for no limit.",
        ),
        "header_names": Set(
            String(), default=["authorization"], description="Headers searched for a Bearer token."
        ),
        "realm": typedefs.realm,
    }
)

OPTIONS = {
    "no_consumer": True,
    "entity_checks": [
        Conditional(
            "config.maximum_expiration",
            {"gt": 0},
            "config.claims_to_verify",
            {"contains": "exp"},
        )
    ],
}
