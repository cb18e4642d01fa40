"""request-transformer config (Kong's ``kong/plugins/request-transformer/schema.lua``)."""

from __future__ import annotations

import re
from typing import Any

from kongtx.plugins.request_transformer.template import TemplateError, compile_template
from kongtx.plugins.transformations import (
    entry_list,
    section,
    split_entry,
    validate_header_entry,
    validate_header_pair,
)
from kongtx.schema import Record, String, typedefs

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


_strings = entry_list(String())
_headers = entry_list(String(validators=[validate_header_entry]))
_colon_strings = entry_list(String(validators=[_check_for_value]))
_colon_header_values = entry_list(
    String(match=r"^[^:]+:.*$", validators=[lambda e: validate_header_entry(e, _HEADER_VALUE_RE)])
)
_colon_headers = entry_list(String(match=r"^[^:]+:.*$", validators=[validate_header_pair]))


_PLACES = {
    "body": "request body parameters",
    "headers": "request headers",
    "querystring": "query string arguments",
}


def _section(op: str, fields: list[tuple[str, Any]], summary: str) -> Record:
    return section(op, fields, summary, _PLACES, "(values may be templates)")


def _colon_fields() -> list[tuple[str, Any]]:
    return [
        ("body", _colon_strings),
        ("headers", _colon_header_values),
        ("querystring", _colon_strings),
    ]


CONFIG = Record(
    [
        (
            "http_method",
            typedefs.http_method(description="Method of the request sent upstream."),
        ),
        (
            "remove",
            _section(
                "remove",
                [("body", _strings), ("headers", _headers), ("querystring", _strings)],
                "What to remove from the request (done first).",
            ),
        ),
        (
            "rename",
            _section(
                "rename",
                [
                    ("body", _colon_strings),
                    ("headers", _colon_headers),
                    ("querystring", _colon_strings),
                ],
                "What to rename in the request (after remove).",
            ),
        ),
        (
            "replace",
            Record(
                [
                    *_section("replace", _colon_fields(), "").fields.items(),
                    ("uri", String(description="New upstream path (may be a template).")),
                ],
                required=True,
                description="What to replace in the request (after rename).",
            ),
        ),
        ("add", _section("add", _colon_fields(), "What to add to the request (after replace).")),
        (
            "append",
            _section("append", _colon_fields(), "What to append to the request (done last)."),
        ),
    ],
    required=True,
)

# Kong's ``typedefs.protocols``: any protocol accepted, the HTTP ones by default.
OPTIONS = {"protocols": list(typedefs.HTTP_PROTOCOLS)}
