"""Admin API error answers and JSON rendering."""

from __future__ import annotations

import json
from typing import Any

from kongtx.errors import KongtxError
from kongtx.store.paging import lua_literal

__all__ = [
    "JSON_CONTENT_TYPE",
    "AdminError",
    "dump_json",
    "lua_literal",
    "method_not_allowed",
    "not_found",
]

JSON_CONTENT_TYPE = b"application/json; charset=utf-8"


class AdminError(KongtxError):
    """An Admin API answer that is not a DAO error: a status and a body.

    :param status: the HTTP status to send.
    :param body: the JSON body, or ``None`` for an empty body (415).
    """

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message", "") if isinstance(body, dict) else ""
        super().__init__(str(message))
        self.http_status = status
        self.body = body

    def to_body(self) -> Any:
        """Return the body given at construction."""
        return self.body


def not_found(message: str = "Not found") -> AdminError:
    """Kong's plain 404 answer."""
    return AdminError(404, {"message": message})


def method_not_allowed() -> AdminError:
    """Kong's plain 405 answer."""
    return AdminError(405, {"message": "Method not allowed"})


def dump_json(value: Any) -> bytes:
    """Serialize a response body compactly as UTF-8 JSON."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
