"""What request-transformer and response-transformer share (Kong's ``iter`` and ``append_value``).

Config entries are ``name:value`` strings; :func:`split_entry` splits them as
Kong does, :func:`validate_header_entry` / :func:`validate_header_pair` are the
schema validators of header entries, :func:`entry_list` and :func:`section` build
the config's operation records, and :func:`append_value` is Kong's rule for
appending to a header, argument or JSON property.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kongtx.schema import Array, Field, Record

__all__ = [
    "HEADER_NAME_RE",
    "append_value",
    "entry_list",
    "section",
    "split_entry",
    "validate_header_entry",
    "validate_header_pair",
]

_ENTRY_RE = re.compile(r"^([^:]+):*(.*)$", re.DOTALL)
#: What a header name in a transformer config may contain.
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def split_entry(entry: str) -> tuple[str | None, str]:
    """Split ``name:value`` as Kong's ``^([^:]+):*(.-)$`` does (extra colons are skipped)."""
    m = _ENTRY_RE.match(entry)
    if m is None:
        return None, ""
    return m.group(1), m.group(2)


def validate_header_entry(entry: str, value_check: re.Pattern[str] | None = None) -> str | None:
    """The name of a ``name:value`` entry must be a header name, its value match ``value_check``."""
    name, value = split_entry(entry)
    if name is None or not HEADER_NAME_RE.match(name):
        return f"'{name}' is not a valid header"
    if value_check is not None and not value_check.match(value):
        return f"'{value}' is not a valid header"
    return None


def validate_header_pair(entry: str) -> str | None:
    """Both sides of ``old:new`` must be valid header names."""
    return validate_header_entry(entry, HEADER_NAME_RE)


def append_value(current: Any, value: Any) -> list[Any]:
    """Kong's ``append_value``: a string becomes a pair, a list grows, anything else is replaced."""
    if isinstance(current, str):
        return [current, value]
    if isinstance(current, list):
        current.append(value)
        return current
    return [value]


# -- config records -------------------------------------------------------------

#: What each operation does to the entries of one place (a place: "request headers", ...).
_OPERATIONS = {
    "remove": "Names of the {} to remove",
    "rename": "old:new names of the {} to rename",
    "replace": "name:value pairs replacing {} already present",
    "add": "name:value pairs of {} added when absent",
    "append": "name:value pairs of {} added to the values present",
}


def entry_list(element: Field) -> Array:
    """A list of config entries: required, empty by default."""
    return Array(element, required=True, default=[])


def section(
    op: str,
    fields: list[tuple[str, Field]],
    summary: str,
    places: Mapping[str, str],
    values_note: str = "",
) -> Record:
    """The ``op`` record (remove, rename, replace, add or append) of a transformer config.

    Each of ``fields`` named in ``places`` gets a description of what ``op`` does to that
    place's entries (``values_note`` added where the entries carry values); other fields
    are kept as they are.
    """
    described: list[tuple[str, Field]] = []
    for name, field in fields:
        if name in places:
            text = _OPERATIONS[op].format(places[name])
            if values_note and op not in ("remove", "rename"):
                text += " " + values_note
            field = field(description=text + ".")
        described.append((name, field))
    return Record(described, required=True, description=summary)
