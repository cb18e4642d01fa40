"""Pure helpers of the DAO: pages, offset tokens and Kong's Lua-style key rendering."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, NamedTuple

from kongtx.errors import InvalidOffset
from kongtx.store.backend import Row


class Page(NamedTuple):
    """One page of rows and the token for the next one (``None`` on the last page)."""

    rows: list[Row]
    offset: str | None


def lua_literal(value: Any) -> str:
    """Render a value as Kong prints keys in error messages (Lua table syntax)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={lua_literal(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, (list, tuple)):
        return "{" + ",".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def encode_offset(last_id: str) -> str:
    """Opaque page token: base64 of a JSON array of the last row's sort key."""
    return base64.b64encode(json.dumps([last_id]).encode()).decode()


def decode_offset(token: str) -> str:
    """Return the id a token points after.

    :raises InvalidOffset: ``'<tok>' is not a valid offset: bad base64|json encoding``.
    """
    try:
        raw = base64.b64decode(token.encode(), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidOffset(f"'{token}' is not a valid offset: bad base64 encoding") from None
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidOffset(f"'{token}' is not a valid offset: bad json encoding") from None
    if not (isinstance(value, list) and len(value) == 1 and isinstance(value[0], str)):
        raise InvalidOffset(f"'{token}' is not a valid offset: bad json encoding")
    return value[0]
