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
        "origins": Array(String(validators=[_asterisk_or_regex])),
        "headers": Array(String()),
        "exposed_headers": Array(String()),
        "methods": Array(String(one_of=METHODS), default=list(METHODS)),
        "max_age": Number(),
        "credentials": Boolean(required=True, default=False),
        "private_network": Boolean(required=True, default=False),
        "preflight_continue": Boolean(required=True, default=False),
        "allow_origin_absent": Boolean(required=True, default=True),
    }
)

OPTIONS = {"no_consumer": True}
