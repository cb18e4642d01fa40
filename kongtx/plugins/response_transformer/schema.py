"""response-transformer config (Kong's ``kong/plugins/response-transformer/schema.lua``)."""

from __future__ import annotations

from typing import Any

from kongtx.plugins.transformations import entry_list, section, validate_header_pair
from kongtx.schema import Array, Record, String

__all__ = ["CONFIG"]


_strings = entry_list(String())
_colon_strings = entry_list(String(match=r"^[^:]+:.*$"))
_colon_headers = entry_list(String(match=r"^[^:]+:.*$", validators=[validate_header_pair]))
_json_types = Array(
    String(one_of=["boolean", "number", "string"]),
    required=True,
    default=[],
    description="List of JSON type names. Specify the types of the JSON values returned when appending\n"
    "JSON properties. Each string element can be one of: boolean, number, or string.",
)


_PLACES = {"json": "JSON body properties", "headers": "response headers"}


def _section(op: str, fields: list[tuple[str, Any]], summary: str) -> Record:
    return section(op, fields, summary, _PLACES)


def _colon_fields() -> list[tuple[str, Any]]:
    return [("json", _colon_strings), ("json_types", _json_types), ("headers", _colon_strings)]


CONFIG = Record(
    [
        (
            "remove",
            _section(
                "remove",
                [("json", _strings), ("headers", _strings)],
                "What to remove from the response (done first).",
            ),
        ),
        (
            "rename",
            _section(
                "rename",
                [("json", _colon_strings), ("headers", _colon_headers)],
                "What to rename in the response (after remove).",
            ),
        ),
        ("replace", _section("replace", _colon_fields(), "What to replace (after rename).")),
        ("add", _section("add", _colon_fields(), "What to add (after replace).")),
        ("append", _section("append", _colon_fields(), "What to append (done last).")),
    ],
    required=True,
)
