"""``request-size-limiting`` config (Kong's ``kong/plugins/request-size-limiting/schema.lua``)."""

from __future__ import annotations

from kongtx.schema.fields import Boolean, Integer, Record, String

#: Unit -> bytes (Kong's ``unit_multiplication_factor``); the first is the default.
SIZE_UNITS = {"megabytes": 2**20, "kilobytes": 2**10, "bytes": 1}

CONFIG = Record(
    {
        "allowed_payload_size": Integer(
            default=128, description="Largest request body allowed, in size_unit."
        ),
        "size_unit": String(
            required=True,
            default="megabytes",
            one_of=tuple(SIZE_UNITS),
            description="Unit of allowed_payload_size: megabytes, kilobytes or bytes.",
        ),
        "require_content_length": Boolean(
            required=True,
            default=False,
            description="Refuse requests without a Content-Length header (411).",
        ),
    }
)
