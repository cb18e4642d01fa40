"""response-transformer config (Kong's ``kong/plugins/response-transformer/schema.lua``)."""

from __future__ import annotations

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


def _colon_record() -> Record:
    return Record(
        [("json", _colon_strings), ("json_types", _json_types), ("headers", _colon_strings)],
        required=True,
    )


CONFIG = Record(
    [
        ("remove", Record([("json", _strings), ("headers", _strings)], required=True)),
        ("rename", Record([("json", _colon_strings), ("headers", _colon_headers)], required=True)),
        ("replace", _colon_record()),
        ("add", _colon_record()),
        ("append", _colon_record()),
    ],
    required=True,
)
