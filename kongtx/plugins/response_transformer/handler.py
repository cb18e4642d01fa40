"""response-transformer (Kong priority 800): rewrite response headers and the JSON body.

``header_filter`` applies remove, rename, replace, add, append to the response
headers (rename/replace/add test the headers as they came in) and drops
``Content-Length`` when a JSON body transformation will apply. The body is
buffered only when the config has JSON operations and the response is
``application/json``: :meth:`ResponseTransformerHandler.wants_response_body` asks the core to
buffer; should the core stream anyway, ``body_filter`` collects the chunks
itself and answers the whole body at ``eof``. Other responses stream untouched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from kongtx import __version__
from kongtx.http.headers import Headers
from kongtx.plugins.base import PluginHandler, ProxyContext
from kongtx.plugins.transformations import append_value, split_entry

__all__ = [
    "ResponseTransformerHandler",
    "Plan",
    "is_json_body",
    "json_value",
    "transform_headers",
    "transform_json_body",
]

_STATE_KEY = "_response_transformer_body"
_NOT_JSON = object()
_MISSING: Any = object()


def _split(entry: str) -> tuple[str | None, str | None]:
    """:func:`split_entry` with an empty value as ``None`` (Kong's ``iter``)."""
    name, value = split_entry(entry)
    return name, value or None


def is_json_body(content_type: str | None) -> bool:
    """Whether one of the comma-separated media types is exactly ``application/json``."""
    if not content_type:
        return False
    for item in content_type.split(","):
        media = item.split(";", 1)[0].strip().lower()
        if media == "application/json":
            return True
    return False


def _tonumber(text: str) -> int | float | None:
    text = text.strip()
    try:
        return int(text, 0) if text[:2].lower() == "0x" else int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None


def json_value(value: str | None, json_type: str | None) -> Any:
    """Kong's ``json_value``: the config text (JSON-escaped, quotes and slashes kept) cast to ``json_type``."""
    if value is None:
        text = "null"
    else:
        text = json.dumps(value, ensure_ascii=False)[1:-1].replace('\\"', '"').replace("\\/", "/")
    if json_type == "number":
        return _tonumber(text)
    if json_type == "boolean":
        return text == "true"
    return text


class Plan:
    """A config's operations, parsed once (JSON values already cast)."""

    __slots__ = (
        "h_add",
        "h_append",
        "h_lookup",
        "h_remove",
        "h_rename",
        "h_replace",
        "j_add",
        "j_append",
        "j_remove",
        "j_rename",
        "j_replace",
        "json_any",
    )

    def __init__(self, conf: Mapping[str, Any]) -> None:
        def section(op: str, key: str) -> list[str]:
            return list((conf.get(op) or {}).get(key) or ())

        def pairs(op: str) -> list[tuple[str, str | None]]:
            return [p for p in map(_split, section(op, "headers")) if p[0] is not None]  # type: ignore[misc]

        def json_pairs(op: str) -> list[tuple[str, Any]]:
            types = section(op, "json_types")
            out = []
            for i, entry in enumerate(section(op, "json")):
                name, value = _split(entry)
                cast = json_value(value, types[i] if i < len(types) else None)
                if name is not None and cast is not None:
                    out.append((name, cast))
            return out

        self.h_remove = [_split(e)[0] or e for e in section("remove", "headers")]
        self.h_rename = pairs("rename")
        self.h_replace = pairs("replace")
        self.h_add = pairs("add")
        self.h_append = pairs("append")
        self.h_lookup = bool(self.h_rename or self.h_replace or self.h_add)
        self.j_remove = [_split(e)[0] or e for e in section("remove", "json")]
        self.j_rename = [p for p in map(_split, section("rename", "json")) if p[0] is not None]
        self.j_replace = json_pairs("replace")
        self.j_add = json_pairs("add")
        self.j_append = json_pairs("append")
        self.json_any = bool(
            section("remove", "json")
            or section("rename", "json")
            or section("replace", "json")
            or section("add", "json")
            or section("append", "json")
        )


def transform_headers(plan: Plan, headers: Headers) -> None:
    """Apply the header operations in place; drop ``Content-Length`` when the JSON body will change."""
    before = headers.copy() if plan.h_lookup else headers
    for name in plan.h_remove:
        headers.remove(name)
    for old, new in plan.h_rename:
        if new and old in before:
            values = before.get_all(old)
            headers.remove(new)
            for kept in values:
                headers.add(new, kept)
            headers.remove(old)
    for name, value in plan.h_replace:
        if value and name in before:
            headers.set(name, value)
    for name, value in plan.h_add:
        if value and name not in before:
            headers.set(name, value)
    for name, value in plan.h_append:
        if value:
            headers.add(name, value)
    if plan.json_any and is_json_body(before.get("content-type")):
        headers.remove("content-length")


def transform_json_body(plan: Plan, data: bytes) -> bytes | None:
    """The transformed JSON object, or ``None`` when the body is not a JSON object."""
    try:
        body = json.loads(data)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    for name in plan.j_remove:
        body.pop(name, None)
    for old, new in plan.j_rename:
        if new is not None and old in body:
            body[new] = body[old]
            body.pop(old, None)
    for name, value in plan.j_replace:
        current = body.get(name, _MISSING)
        if current is not _MISSING and current is not False:
            body[name] = value
    for name, value in plan.j_add:
        current = body.get(name, _MISSING)
        if current is _MISSING or current is False:
            body[name] = value
    for name, value in plan.j_append:
        body[name] = append_value(body.get(name), value)
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class ResponseTransformerHandler(PluginHandler):
    """Kong's response-transformer."""

    name = "response-transformer"
    priority = 800
    version = __version__

    def compile(self, conf: dict[str, Any], plugin: Mapping[str, Any] | None = None) -> Any:
        """Digest one configuration (once, in the snapshot)."""
        return Plan(conf)

    def wants_response_body(self, conf: dict[str, Any], ctx: ProxyContext | None = None) -> bool:
        """Buffer only for JSON operations (and, when ``ctx`` is given, a JSON response)."""
        if not self.compiled(conf).json_any:
            return False
        if ctx is None:
            return True
        headers = ctx.response_headers
        return headers is not None and is_json_body(headers.get("content-type"))

    def header_filter(self, ctx: ProxyContext, conf: dict[str, Any]) -> None:
        """Transform the response headers."""
        headers = ctx.response_headers
        if headers is not None:
            transform_headers(self.compiled(conf), headers)

    def body_filter(
        self, ctx: ProxyContext, conf: dict[str, Any], chunk: bytes, eof: bool
    ) -> bytes:
        """Transform a JSON body once it is complete; anything else passes through."""
        plan = self.compiled(conf)
        if not plan.json_any:
            return chunk
        shared = ctx.shared
        state: Any = shared.get(_STATE_KEY)
        if state is None:
            headers = ctx.response_headers
            json_body = headers is not None and is_json_body(headers.get("content-type"))
            state = [] if json_body else _NOT_JSON
            if not eof:
                shared[_STATE_KEY] = state
        if state is _NOT_JSON:
            return chunk
        if not eof:
            state.append(chunk)
            return b""
        data = b"".join(state) + chunk if state else chunk
        return transform_json_body(plan, data) or data
