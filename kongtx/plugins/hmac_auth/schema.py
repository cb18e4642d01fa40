"""``hmac-auth`` config (Kong's ``kong/plugins/hmac-auth/schema.lua``)."""

from __future__ import annotations

from kongtx.schema.fields import Array, Boolean, Number, Record, String

ALGORITHMS = ["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"]

CONFIG = Record(
    {
        "hide_credentials": Boolean(required=True, default=False),
        "clock_skew": Number(default=300, gt=0),
        "anonymous": String(),
        "validate_request_body": Boolean(required=True, default=False),
        "enforce_headers": Array(String(), default=[]),
        "algorithms": Array(String(one_of=ALGORITHMS), default=list(ALGORITHMS)),
        "realm": String(),
    }
)

OPTIONS = {"no_consumer": True}
