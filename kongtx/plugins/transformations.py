"""What request-transformer and response-transformer share (Kong's ``iter`` and ``append_value``).

Config entries are ``name:value`` strings; :func:`split_entry` splits them as
Kong does, :func:`validate_header_entry` / :func:`validate_header_pair` are the
schema validators of header entries, and :func:`append_value` is Kong's rule
for appending to a header, argument or JSON property.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "HEADER_NAME_RE",
    "append_value",
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
