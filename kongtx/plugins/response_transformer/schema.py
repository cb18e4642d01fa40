"""response-transformer config (Kong's ``kong/plugins/response-transformer/schema.lua``)."""

from __future__ import annotations

from typing import Any

from kongtx.plugins.transformations import validate_header_pair
from kongtx.schema import Array, Record, String

__all__ = ["CONFIG"]


def _array(element: String) -> Array:
    return Array(element, required=True, default=[])


_strings = _array(String())
_colon_strings = _array(String(match=r"^[^:]+:.*$"))
_colon_headers = _array(String(match=r"^[^:]+:.*$", validators=[validate_header_pair]))
_json_types = Array(
    String(one_of=["boolean", "number", "string"]),
    required=True,
    default=[],
    description="List of JSON type names. Specify the types of the JSON values returned when appending\n"
    "JSON properties. Each string element can be one of: boolean, number, or string.",
)


_PLACES = {"json": "JSON body properties", "headers": "response headers"}
_OPS = {
    "remove": "Names of the {} to remove.",
    "rename": "old:new names of the {} to rename.",
    "replace": "name:value pairs replacing {} already present.",
    "add": "name:value pairs of {} added when absent.",
    "append": "name:value pairs of {} added to the values present.",
}


def _section(op: str, fields: list[tuple[str, Any]], summary: str) -> Record:
    described = [
        (name, field if name == "json_types" else field(description=_OPS[op].format(_PLACES[name])))
        for name, field in fields
    ]
    return Record(described, required=True, description=summary)


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
