"""``hmac-auth`` config (Kong's ``kong/plugins/hmac-auth/schema.lua``)."""

from __future__ import annotations

from kongtx.schema import typedefs
from kongtx.schema.fields import Array, Boolean, Number, Record, String

ALGORITHMS = ["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"]

CONFIG = Record(
    {
        "hide_credentials": typedefs.hide_credentials,
        "clock_skew": Number(
            default=300,
            gt=0,
            description="Seconds the Date or X-Date header may differ from the gateway's clock.",
        ),
        "anonymous": typedefs.anonymous,
        "validate_request_body": Boolean(
            required=True,
            default=False,
            description="Check the request body against its Digest header.",
        ),
        "enforce_headers": Array(
            String(), default=[], description="Headers the client must include in the signature."
        ),
        "algorithms": Array(
            String(one_of=ALGORITHMS),
            default=list(ALGORITHMS),
            description="HMAC algorithms accepted.",
        ),
        "realm": typedefs.realm,
    }
)

OPTIONS = {"no_consumer": True}
