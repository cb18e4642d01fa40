"""``jwt`` config (Kong's ``kong/plugins/jwt/schema.lua``)."""

from __future__ import annotations

from kongtx.schema.checks import Conditional
from kongtx.schema.fields import Boolean, Number, Record, Set, String

CONFIG = Record(
    {
        "uri_param_names": Set(String(), default=["jwt"]),
        "cookie_names": Set(String(), default=[]),
        "key_claim_name": String(default="iss"),
        "secret_is_base64": Boolean(required=True, default=False),
        "claims_to_verify": Set(String(one_of=["exp", "nbf"])),
        "anonymous": String(),
        "run_on_preflight": Boolean(required=True, default=True),
        "maximum_expiration": Number(default=0, between=(0, 31536000)),
        "header_names": Set(String(), default=["authorization"]),
        "realm": String(),
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
