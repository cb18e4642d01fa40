"""Request bodies as key-auth reads them (Kong's ``kong.request.get_body``), pure functions.

A :class:`FormBody`, :class:`JsonBody` or :class:`MultipartBody` answers
``get(name)`` with a ``str`` (one value), a ``list`` (repeated or array: a
duplicate key), ``None`` (absent) or another JSON value (ignored), and
``without(name)`` with the body bytes minus that field, keeping every other
byte where the format allows.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

__all__ = ["FormBody", "JsonBody", "MultipartBody", "parse_body"]


class _FieldsBody:
    """A body parsed into ``_values``: every value of each field name, in order."""

    _values: dict[str, list[str]]

    def get(self, name: str) -> Any:
        values = self._values.get(name)
        if values is None:
            return None
        return values[0] if len(values) == 1 else list(values)


class FormBody(_FieldsBody):
    """``application/x-www-form-urlencoded``."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._segments = raw.split(b"&") if raw else []
        self._values: dict[str, list[str]] = {}
        for segment in self._segments:
            if not segment:
                continue
            name, _, value = segment.partition(b"=")
            self._values.setdefault(_unquote(name), []).append(_unquote(value))

    def without(self, name: str) -> bytes:
        kept = [s for s in self._segments if _unquote(s.partition(b"=")[0]) != name]
        return b"&".join(kept)


def _unquote(data: bytes) -> str:
    return unquote_plus(data.decode("latin-1"), encoding="utf-8", errors="replace")


class JsonBody:
    """``application/json`` (anything but an object has no fields)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def get(self, name: str) -> Any:
        if not isinstance(self.value, dict):
            return None
        value = self.value.get(name)
        # Kong: a JSON array or object is a Lua table, i.e. a duplicate key.
        if isinstance(value, dict):
            return [value]
        return value

    def without(self, name: str) -> bytes:
        value = self.value
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != name}
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class MultipartBody(_FieldsBody):
    """``multipart/form-data``: parts are kept as raw segments so removal is exact."""

    def __init__(self, boundary: bytes, raw: bytes) -> None:
        self.delimiter = b"--" + boundary
        self.pieces = raw.split(self.delimiter)
        self._names: list[str | None] = [None] * len(self.pieces)
        self._values: dict[str, list[str]] = {}
        for index in range(1, len(self.pieces) - 1):
            parsed = _part(self.pieces[index])
            if parsed is None:
                continue
            name, value = parsed
            self._names[index] = name
            self._values.setdefault(name, []).append(value)

    def without(self, name: str) -> bytes:
        kept = [p for i, p in enumerate(self.pieces) if self._names[i] != name]
        return self.delimiter.join(kept)


def _part(piece: bytes) -> tuple[str, str] | None:
    if not piece.startswith(b"\r\n"):
        return None
    head, sep, content = piece[2:].partition(b"\r\n\r\n")
    if not sep:
        return None
    if content.endswith(b"\r\n"):
        content = content[:-2]
    for line in head.split(b"\r\n"):
        field, _, value = line.partition(b":")
        if field.strip().lower() == b"content-disposition":
            params = _params(value.decode("latin-1"))
            name = params.get("name")
            if name is None:
                return None
            return _utf8(name), content.decode("utf-8", errors="replace")
    return None


def _utf8(text: str) -> str:
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def _params(header: str) -> dict[str, str]:
    """``type; a=b; c="d"`` parameters (names lower-cased)."""
    out: dict[str, str] = {}
    for item in header.split(";")[1:]:
        key, eq, value = item.partition("=")
        if not eq:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        out[key.strip().lower()] = value
    return out


def parse_body(content_type: str | None, raw: bytes) -> FormBody | JsonBody | MultipartBody | None:
    """The body's fields, or None when Kong's ``get_body`` fails (no/unknown type, bad JSON)."""
    if not content_type:
        return None
    # Kong matches the media types as substrings of the header, in this order.
    media = content_type.lower()
    if "application/x-www-form-urlencoded" in media:
        return FormBody(raw)
    if "application/json" in media:
        try:
            return JsonBody(json.loads(raw))
        except (ValueError, UnicodeDecodeError):
            return None
    if "multipart/form-data" in media:
        boundary = _params(content_type).get("boundary")
        if not boundary:
            return None
        return MultipartBody(boundary.encode("latin-1"), raw)
    return None
