"""``cors`` config (Kong's ``kong/plugins/cors/schema.lua``)."""

from __future__ import annotations

import re

from kongtx.schema.fields import Array, Boolean, Number, Record, String
from kongtx.schema.typedefs import pcre_to_python

METHODS = ("GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT")


def _asterisk_or_regex(value: str) -> str | None:
    if value == "*":
        return None
    try:
        re.compile(pcre_to_python(value))
    except re.error:
        return "'%s' is not a valid regex" % value
    return None


CONFIG = Record(
    {
        "origins": Array(
            String(validators=[_asterisk_or_regex]),
            description="Allowed origins: '*', exact origins or regexes (unset: any).",
        ),
        "headers": Array(
            String(),
            description="Access-Control-Allow-Headers value (unset: the request's "
            "Access-Control-Request-Headers).",
        ),
        "exposed_headers": Array(String(), description="Access-Control-Expose-Headers value."),
        "methods": Array(
            String(one_of=METHODS),
            default=list(METHODS),
            description="Access-Control-Allow-Methods value.",
        ),
        "max_age": Number(
            description="Seconds a preflight answer may be cached (Access-Control-Max-Age)."
        ),
        "credentials": Boolean(
            required=True,
            default=False,
            description="Send Access-Control-Allow-Credentials: true.",
        ),
        "private_network": Boolean(
            required=True,
            default=False,
            description="Answer Access-Control-Request-Private-Network preflights with "
            "Access-Control-Allow-Private-Network: true.",
        ),
        "preflight_continue": Boolean(
            required=True,
            default=False,
            description="Proxy OPTIONS preflight requests to the upstream instead of answering them.",
        ),
        "allow_origin_absent": Boolean(
            required=True,
            default=True,
            description="Add the CORS response headers even when the request has no Origin.",
        ),
    }
)

OPTIONS = {"no_consumer": True}
