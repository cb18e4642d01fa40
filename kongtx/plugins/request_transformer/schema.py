"""request-transformer config (Kong's ``kong/plugins/request-transformer/schema.lua``)."""

from __future__ import annotations

import re
from typing import Any

from kongtx.plugins.request_transformer.template import TemplateError, compile_template
from kongtx.plugins.transformations import split_entry, validate_header_entry, validate_header_pair
from kongtx.schema import Array, Record, String, typedefs

__all__ = ["CONFIG", "OPTIONS"]

_HEADER_VALUE_RE = re.compile(r"^[\t\x20-\x7e\x80-\xff]*$")


def _check_for_value(entry: str) -> str | None:
    name, value = split_entry(entry)
    if name is None or value == "":
        return "key '%s' has no value" % (name if name is not None else entry)
    try:
        compile_template(value)
    except TemplateError as exc:
        return f"value '{value}' is not in supported format, error:{exc}"
    return None


def _array(element: String) -> Array:
    return Array(element, required=True, default=[])


_strings = _array(String())
_headers = _array(String(validators=[validate_header_entry]))
_colon_strings = _array(String(validators=[_check_for_value]))
_colon_header_values = _array(
    String(match=r"^[^:]+:.*$", validators=[lambda e: validate_header_entry(e, _HEADER_VALUE_RE)])
)
_colon_headers = _array(String(match=r"^[^:]+:.*$", validators=[validate_header_pair]))


def _colon_record(with_uri: bool = False) -> Record:
    fields: list[tuple[str, Any]] = [
        ("body", _colon_strings),
        ("headers", _colon_header_values),
        ("querystring", _colon_strings),
    ]
    if with_uri:
        fields.append(("uri", String()))
    return Record(fields, required=True)


CONFIG = Record(
    [
        ("http_method", typedefs.http_method),
        (
            "remove",
            Record(
                [("body", _strings), ("headers", _headers), ("querystring", _strings)],
                required=True,
            ),
        ),
        (
            "rename",
            Record(
                [
                    ("body", _colon_strings),
                    ("headers", _colon_headers),
                    ("querystring", _colon_strings),
                ],
                required=True,
            ),
        ),
        ("replace", _colon_record(with_uri=True)),
        ("add", _colon_record()),
        ("append", _colon_record()),
    ],
    required=True,
)

# Kong's ``typedefs.protocols``: any protocol accepted, the HTTP ones by default.
OPTIONS = {"protocols": list(typedefs.HTTP_PROTOCOLS)}
