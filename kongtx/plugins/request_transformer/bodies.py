"""request-transformer body rewriting: JSON, ``x-www-form-urlencoded`` and ``multipart/form-data``.

Each ``transform_*`` takes the compiled body operations, the raw body and the
template environment, and returns the new body, or ``None`` when Kong would
leave the body untouched (nothing applied, or a body that does not parse).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kongtx.http import request_body
from kongtx.http.request_body import MultipartPart
from kongtx.plugins.request_transformer.template import Lookup
from kongtx.plugins.transformations import append_value

if TYPE_CHECKING:
    from kongtx.plugins.request_transformer.plan import Ops

__all__ = [
    "ENCODED",
    "JSON",
    "MULTI",
    "body_kind",
    "decode_args",
    "encode_args",
    "transform_json",
    "transform_multipart",
    "transform_urlencoded",
]

JSON, MULTI, ENCODED = request_body.JSON, request_body.MULTIPART, request_body.FORM

#: Kong's ``get_content_type``: a substring test on the lower-cased ``Content-Type``.
body_kind = request_body.media_kind


def _present(params: Mapping[str, Any], name: str) -> bool:
    """Lua truthiness of ``params[name]``: present and not ``false`` (JSON ``null`` counts)."""
    return name in params and params[name] is not False


_MISSING: Any = object()


def _rename(params: dict[str, Any], old: str, new: str) -> None:
    """``params[new] = params[old]; params[old] = nil`` (a missing ``old`` clears ``new``)."""
    value = params.get(old, _MISSING)
    if value is _MISSING:
        params.pop(new, None)
    else:
        params[new] = value
    params.pop(old, None)


def _absent(params: Mapping[str, Any], name: str) -> bool:
    return not _present(params, name)


def _unset(params: Mapping[str, Any], name: str) -> bool:
    return params.get(name) is None


def _apply_ops(
    ops: Ops,
    params: dict[str, Any],
    env: Lookup,
    has_body: bool,
    absent: Callable[[Mapping[str, Any], str], bool],
) -> bool:
    """Kong's remove, rename, replace (only on a non-empty body), add, append on a parameter table.

    :param absent: whether ``add`` may set a name (Kong's JSON and form tests differ).
    :returns: whether any operation was applied.
    """
    changed = False
    if has_body:
        for name in ops.remove:
            params.pop(name, None)
            changed = True
        for old, new in ops.render_rename(env):
            _rename(params, old, new)
            changed = True
        for name, value in ops.render("replace", env):
            if _present(params, name):
                params[name] = value
                changed = True
    for name, value in ops.render("add", env):
        if absent(params, name):
            params[name] = value
            changed = True
    for name, value in ops.render("append", env):
        params[name] = append_value(params.get(name), value)
        changed = True
    return changed


# -- JSON ----------------------------------------------------------------------
def transform_json(ops: Ops, body: bytes, env: Lookup) -> bytes | None:
    """Apply the body operations to a JSON object body."""
    length = len(body)
    params: Any
    try:
        params = json.loads(body) if body else None
    except ValueError:
        params = None
    if params is None:
        if length > 0:
            return None
        params = {}
    if not isinstance(params, dict):
        return None
    if not _apply_ops(ops, params, env, length > 0, _absent):
        return None
    return json.dumps(params, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# -- x-www-form-urlencoded -----------------------------------------------------------
def decode_args(raw: bytes) -> dict[str, Any]:
    """``ngx.decode_args``: repeated names become lists, a name without ``=`` is ``True``."""
    return request_body.group_repeated(request_body.form_pairs(raw, bare=True))


def encode_args(params: Mapping[str, Any]) -> str:
    """``ngx.encode_args``: ``True`` is a bare name, ``False``/``None`` are dropped, lists repeat."""
    parts: list[str] = []
    for name, value in params.items():
        key = quote(str(name), safe="")
        for item in value if isinstance(value, list) else (value,):
            if item is True:
                parts.append(key)
            elif item is not None and item is not False:
                parts.append(f"{key}={quote(str(item), safe='')}")
    return "&".join(parts)


def transform_urlencoded(ops: Ops, body: bytes, env: Lookup) -> bytes | None:
    """Apply the body operations to a form-urlencoded body."""
    length = len(body)
    params = decode_args(body)
    if not _apply_ops(ops, params, env, length > 0, _unset):
        return None
    return encode_args(params).encode("latin-1", "replace")


# -- multipart/form-data ----------------------------------------------------------------
_BOUNDARY_RE = re.compile(r'boundary=(?:"([^"]+)"|([^\s;,]+))', re.IGNORECASE)


def _parse_multipart(body: bytes, boundary: bytes) -> list[MultipartPart]:
    return [part for part in request_body.split_multipart(body, boundary)[1] if part is not None]


def _serialize_multipart(parts: list[MultipartPart], boundary: bytes) -> bytes:
    out: list[bytes] = []
    for part in parts:
        out.append(b"--" + boundary + b"\r\n")
        for line in part.headers:
            out.append(line + b"\r\n")
        out.append(b"\r\n" + part.value + b"\r\n")
    out.append(b"--" + boundary + b"--\r\n")
    return b"".join(out)


def _find(parts: list[MultipartPart], name: str) -> MultipartPart | None:
    for part in parts:
        if part.name == name:
            return part
    return None


def _set_simple(parts: list[MultipartPart], name: str, value: str) -> None:
    data = value.encode("utf-8")
    part = _find(parts, name)
    if part is not None:
        part.value = data
        return
    header = b'Content-Disposition: form-data; name="' + name.encode("utf-8") + b'"'
    parts.append(MultipartPart([header], name, data))


def transform_multipart(ops: Ops, body: bytes, env: Lookup, content_type: str) -> bytes | None:
    """Apply rename, remove, replace and add (Kong has no multipart append) to a multipart body."""
    m = _BOUNDARY_RE.search(content_type)
    if m is None:
        return None
    boundary = (m.group(1) or m.group(2)).encode("latin-1")
    parts = _parse_multipart(body, boundary)
    length = len(body)
    changed = False
    if length > 0:
        for old, new in ops.render_rename(env):
            part = _find(parts, old)
            if part is not None:
                content = part.value
                _set_simple(parts, new, "")
                target = _find(parts, new)
                assert target is not None
                target.value = content
                parts[:] = [p for p in parts if p.name != old]
                changed = True
        for name in ops.remove:
            parts[:] = [p for p in parts if p.name != name]
            changed = True
        for name, value in ops.render("replace", env):
            if _find(parts, name) is not None:
                parts[:] = [p for p in parts if p.name != name]
                _set_simple(parts, name, value)
                changed = True
    for name, value in ops.render("add", env):
        if _find(parts, name) is None:
            _set_simple(parts, name, value)
            changed = True
    if not changed:
        return None
    return _serialize_multipart(parts, boundary)
