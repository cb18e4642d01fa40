"""``bot-detection`` config (Kong's ``kong/plugins/bot-detection/schema.lua``)."""

from __future__ import annotations

import re

from kongtx.schema.fields import Array, Record, String
from kongtx.schema.typedefs import pcre_to_python


def _is_regex(value: str) -> str | None:
    try:
        re.compile(pcre_to_python(value))
    except re.error:
        return "not a valid regex: %s" % value
    return None


CONFIG = Record(
    {
        "allow": Array(
            String(validators=[_is_regex]),
            default=[],
            description="User-Agent regexes let through even when they look like a bot.",
        ),
        "deny": Array(
            String(validators=[_is_regex]),
            default=[],
            description="User-Agent regexes refused with 403, besides the built-in bot list.",
        ),
    }
)

OPTIONS = {"no_consumer": True}
