"""Request bodies as plugins read them (Kong's ``kong.request.get_body``), sans-IO.

:func:`parse_body` turns raw bytes and a ``Content-Type`` into a
:class:`FormBody`, :class:`JsonBody` or :class:`MultipartBody` (``None`` when
Kong's ``get_body`` fails: no or unknown type, bad JSON, no boundary). Each
answers :meth:`~FormBody.args` (Kong's argument table: a repeated name becomes
a list, see :func:`group_repeated`), ``get(name)`` (one field) and
``without(name)`` (the body bytes minus that field, every other byte kept where
the format allows). :func:`get_body` is the one-call form.

The lower-level pieces — :func:`media_kind`, :func:`form_pairs`,
:func:`split_multipart`, :func:`content_type_params` — are what other body
users (request-transformer, the Admin API's decoder) build on, so every reader
shares one set of parsing rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TypeVar, Union
from urllib.parse import unquote_plus

__all__ = [
    "FORM",
    "JSON",
    "MULTIPART",
    "FormBody",
    "JsonBody",
    "MultipartBody",
    "MultipartPart",
    "ParsedBody",
    "content_type_params",
    "form_pairs",
    "get_body",
    "group_repeated",
    "media_kind",
    "parse_body",
    "split_multipart",
]

#: The body kinds :func:`media_kind` tells apart.
JSON, MULTIPART, FORM = "json", "multi_part", "form_encoded"

V = TypeVar("V")


def media_kind(content_type: str | None) -> str | None:
    """The body kind of a ``Content-Type``: Kong matches the media types as substrings."""
    if not content_type:
        return None
    media = content_type.lower()
    if "application/x-www-form-urlencoded" in media:
        return FORM
    if "application/json" in media:
        return JSON
    if "multipart/form-data" in media:
        return MULTIPART
    return None


def content_type_params(header: str) -> dict[str, str]:
    """``type; a=b; c="d"`` parameters (names lower-cased, quotes removed)."""
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


def group_repeated(
    pairs: Iterable[tuple[str, V]], into: dict[str, Any] | None = None
) -> dict[str, V | list[V]]:
    """Kong's argument table: one value stays itself, a repeated name becomes a list.

    :param into: a table to add to (a ``dict`` subclass too), else a new one.
    """
    out: dict[str, Any] = {} if into is None else into
    for name, value in pairs:
        if dict.__contains__(out, name):
            previous = dict.__getitem__(out, name)
            if isinstance(previous, list):
                previous.append(value)
            else:
                out[name] = [previous, value]
        else:
            out[name] = value
    return out


def _unquote(data: bytes) -> str:
    return unquote_plus(data.decode("latin-1"), encoding="utf-8", errors="replace")


def form_pairs(raw: bytes, bare: Any = "") -> list[tuple[str, Any]]:
    """``application/x-www-form-urlencoded`` fields in order; ``bare`` is a name without ``=``."""
    pairs: list[tuple[str, Any]] = []
    for segment in raw.split(b"&"):
        if not segment:
            continue
        name, eq, value = segment.partition(b"=")
        pairs.append((_unquote(name), _unquote(value) if eq else bare))
    return pairs


class FormBody:
    """``application/x-www-form-urlencoded``."""

    kind = FORM

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.pairs = form_pairs(raw)

    def args(self) -> dict[str, Any]:
        return group_repeated(self.pairs)

    def get(self, name: str) -> Any:
        """One value (``str``), several (``list``) or ``None``."""
        return self.args().get(name)

    def without(self, name: str) -> bytes:
        kept = [s for s in self.raw.split(b"&") if s and _unquote(s.partition(b"=")[0]) != name]
        return b"&".join(kept)


class JsonBody:
    """``application/json`` (anything but an object has no fields)."""

    kind = JSON

    def __init__(self, value: Any) -> None:
        self.value = value

    def args(self) -> Any:
        return self.value

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


class MultipartPart:
    """One part of a multipart body: its header lines, field name (``None``: none) and content."""

    __slots__ = ("headers", "name", "value")

    def __init__(self, headers: list[bytes], name: str | None, value: bytes) -> None:
        self.headers = headers
        self.name = name
        self.value = value


def _utf8(text: str) -> str:
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def _part(piece: bytes) -> MultipartPart:
    if piece.startswith(b"\r\n"):
        piece = piece[2:]
    if piece.endswith(b"\r\n"):
        piece = piece[:-2]
    head, sep, content = piece.partition(b"\r\n\r\n")
    if not sep:
        return MultipartPart([], None, head)
    lines = [line for line in head.split(b"\r\n") if line]
    name = None
    for line in lines:
        field, _, value = line.partition(b":")
        if field.strip().lower() == b"content-disposition":
            found = content_type_params(value.decode("latin-1")).get("name")
            name = None if found is None else _utf8(found)
            break
    return MultipartPart(lines, name, content)


def split_multipart(raw: bytes, boundary: bytes) -> tuple[list[bytes], list[MultipartPart | None]]:
    """Split a ``multipart/form-data`` body on ``--boundary``.

    :returns: the raw pieces (joining them with the delimiter gives ``raw`` back)
        and, for each piece, its parsed part (``None`` for the preamble and from
        the closing delimiter on).
    """
    pieces = raw.split(b"--" + boundary)
    parts: list[MultipartPart | None] = [None] * len(pieces)
    for index in range(1, len(pieces)):
        if pieces[index].startswith(b"--"):
            break
        parts[index] = _part(pieces[index])
    return pieces, parts


class MultipartBody:
    """``multipart/form-data``: parts are kept as raw pieces so removal is exact."""

    kind = MULTIPART

    def __init__(self, boundary: bytes, raw: bytes) -> None:
        self.delimiter = b"--" + boundary
        self.pieces, found = split_multipart(raw, boundary)
        self.parts = found
        self.pairs = [
            (p.name, p.value.decode("utf-8", errors="replace"))
            for p in found
            if p is not None and p.name is not None
        ]

    def args(self) -> dict[str, Any]:
        return group_repeated(self.pairs)

    def get(self, name: str) -> Any:
        """One value (``str``), several (``list``) or ``None``."""
        return self.args().get(name)

    def without(self, name: str) -> bytes:
        kept = [
            piece
            for piece, part in zip(self.pieces, self.parts)
            if part is None or part.name != name
        ]
        return self.delimiter.join(kept)


ParsedBody = Union[FormBody, JsonBody, MultipartBody]


def parse_body(content_type: str | None, raw: bytes) -> ParsedBody | None:
    """The body's fields, or None when Kong's ``get_body`` fails (no/unknown type, bad JSON)."""
    kind = media_kind(content_type)
    if kind == FORM:
        return FormBody(raw)
    if kind == JSON:
        try:
            return JsonBody(json.loads(raw))
        except (ValueError, UnicodeDecodeError):
            return None
    if kind == MULTIPART:
        assert content_type is not None
        boundary = content_type_params(content_type).get("boundary")
        if not boundary:
            return None
        return MultipartBody(boundary.encode("latin-1"), raw)
    return None


def get_body(content_type: str | None, raw: bytes) -> Any:
    """Kong's ``kong.request.get_body()``: the argument table, the JSON value, or None."""
    parsed = parse_body(content_type, raw)
    return None if parsed is None else parsed.args()
