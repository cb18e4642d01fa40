"""Admin API request-body decoding: JSON, form-urlencoded and multipart.

Fields are split by :mod:`kongtx.http.request_body`, the parser plugins use too.

Form keys follow Kong's ``arguments_decoder`` syntax: ``a.b=v`` builds a
record, ``a[]=x`` appends to an array, ``a[1]=x`` sets a 1-based array slot,
``a[k]=v`` sets a map key and a plain key repeated becomes an array.  Form
values stay strings here; the entity schema infers their types afterwards
(:meth:`Entity.coerce_form`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from twisted.logger import Logger

from kongtx.admin.errors import AdminError
from kongtx.http.request_body import MultipartBody, content_type_params, form_pairs

__all__ = ["MAX_FORM_DEPTH", "DecodedBody", "decode_body", "decode_form_pairs", "parse_form_key"]

log = Logger()

_APPEND = object()
#: Deepest form key accepted (``a[b][c]...``): deeper keys are a 400, not a RecursionError.
MAX_FORM_DEPTH = 64
#: Kong's ``lua_max_post_args`` default: form fields (or multipart parts) parsed per body.
DEFAULT_MAX_ARGS = 100
_KEY_PART = re.compile(r"\[([^\]]*)\]|\.?([^.\[]+)")


@dataclass(frozen=True)
class DecodedBody:
    """A decoded request body.

    :ivar data: the arguments (``{}`` when there was no body).
    :ivar form: ``True`` for form/multipart input, whose string values still
        need schema-driven type inference.
    """

    data: dict[str, Any] = field(default_factory=dict)
    form: bool = False


def parse_form_key(key: str) -> list[Any]:
    """Split a form key into path tokens.

    :returns: a list of ``str`` (record/map key), ``int`` (1-based array
        index) or the append marker for ``[]``.
    """
    tokens: list[Any] = []
    pos = 0
    while pos < len(key):
        m = _KEY_PART.match(key, pos)
        if m is None or m.end() == pos:
            # Unbalanced bracket or stray dot: keep the rest verbatim.
            tokens.append(key[pos:])
            break
        bracket, plain = m.group(1), m.group(2)
        if plain is not None:
            tokens.append(plain)
        elif bracket == "":
            tokens.append(_APPEND)
        elif bracket.isdigit():
            tokens.append(int(bracket))
        else:
            tokens.append(bracket)
        pos = m.end()
    return tokens or [key]


class _Array:
    """An array under construction: indexed slots plus appended values."""

    __slots__ = ("slots", "tail")

    def __init__(self) -> None:
        self.slots: dict[int, Any] = {}
        self.tail: list[Any] = []

    def get(self, token: Any) -> Any:
        if token is _APPEND:
            return None
        return self.slots.get(token)

    def put(self, token: Any, value: Any) -> None:
        if token is _APPEND:
            self.tail.append(value)
        else:
            self.slots[token] = value


def _container_for(token: Any) -> Any:
    return {} if isinstance(token, str) else _Array()


def _put(container: Any, token: Any, value: Any) -> None:
    if isinstance(container, dict):
        container[str(token)] = value
    else:
        container.put(token, value)


def _get(container: Any, token: Any) -> Any:
    if isinstance(container, dict):
        return container.get(str(token))
    return container.get(token)


def _assign(root: dict[str, Any], path: list[Any], value: Any) -> None:
    node: Any = root
    for i, token in enumerate(path[:-1]):
        child = _get(node, token)
        want_map = isinstance(path[i + 1], str)
        if want_map and not isinstance(child, dict):
            child = {}
            _put(node, token, child)
        elif not want_map and not isinstance(child, _Array):
            child = _Array()
            _put(node, token, child)
        node = child
    last = path[-1]
    if isinstance(node, dict) and isinstance(last, str) and last in node:
        # A repeated plain key turns into an array (``hosts=a&hosts=b``).
        existing = node[last]
        if isinstance(existing, _Array):
            existing.tail.append(value)
        else:
            arr = _Array()
            arr.tail.extend([existing, value])
            node[last] = arr
        return
    _put(node, last, value)


def _finish(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finish(v) for k, v in value.items()}
    if isinstance(value, _Array):
        items = [_finish(value.slots[k]) for k in sorted(value.slots)]
        items.extend(_finish(v) for v in value.tail)
        return items
    return value


def decode_form_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build nested arguments from ``(key, value)`` pairs with Kong's key syntax.

    :param pairs: decoded form fields in request order.
    :returns: the nested argument dictionary.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        path = parse_form_key(key)
        if len(path) > MAX_FORM_DEPTH:
            raise AdminError(400, {"message": "Cannot parse form body: keys nested too deep"})
        _assign(root, path, value)
    return _finish(root)


def _first_form_fields(raw: bytes, max_args: int) -> bytes:
    """Kong (``lua_max_post_args``) parses the first ``max_args`` fields and drops the rest:
    cut ``raw`` there before it is split into fields."""
    pieces = raw.split(b"&", max_args)
    if len(pieces) <= max_args:
        return raw
    log.info("post args truncated to {max_args}", max_args=max_args)
    return b"&".join(pieces[:max_args])


def _first_parts(raw: bytes, delimiter: bytes, max_args: int) -> bytes:
    """The multipart body cut after ``max_args`` parts (preamble, parts, closing piece)."""
    pieces = raw.split(delimiter, max_args + 2)
    if len(pieces) <= max_args + 2:
        return raw
    log.info("post args truncated to {max_args}", max_args=max_args)
    return delimiter.join(pieces[: max_args + 1]) + delimiter + b"--\r\n"


def _media_type(content_type: bytes) -> str:
    return content_type.split(b";", 1)[0].strip().lower().decode("latin-1")


def _decode_multipart(content_type: bytes, body: bytes, max_args: int) -> list[tuple[str, Any]]:
    boundary = content_type_params(content_type.decode("latin-1")).get("boundary")
    if not boundary:
        raise AdminError(400, {"message": "Cannot parse multipart body"})
    body = _first_parts(body, b"--" + boundary.encode("latin-1"), max_args)
    return MultipartBody(boundary.encode("latin-1"), body).pairs


#: Deepest JSON nesting accepted (lua-cjson's ``decode_max_depth``). CPython's decoder
#: stops near there by recursion; PyPy's goes much deeper, so it is checked here.
MAX_JSON_DEPTH = 1000


def _too_deep(body: bytes, data: Any) -> bool:
    """Whether the decoded ``data`` nests deeper than :data:`MAX_JSON_DEPTH`."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False  # not enough brackets to nest that deep (the usual case: no walk)
    level = [data]
    for _ in range(MAX_JSON_DEPTH):
        inner: list[Any] = []
        for value in level:
            if isinstance(value, dict):
                inner.extend(v for v in value.values() if isinstance(v, (dict, list)))
            else:
                inner.extend(v for v in value if isinstance(v, (dict, list)))
        if not inner:
            return False
        level = inner
    return True


def decode_body(
    content_types: list[bytes] | None, body: bytes, max_args: int = DEFAULT_MAX_ARGS
) -> DecodedBody:
    """Decode a request body the way Kong's Admin API does.

    :param content_types: every ``Content-Type`` header value of the request.
    :param body: the raw body.
    :param max_args: form fields or multipart parts parsed (Kong's ``lua_max_post_args``).
    :returns: the decoded arguments.
    :raises AdminError: 400 for several Content-Type headers or bad JSON,
        415 for an unsupported media type with a non-empty body.
    """
    if content_types and len(content_types) > 1:
        raise AdminError(400, {"message": "Multiple Content-Type headers not allowed"})
    if not body:
        return DecodedBody()
    content_type = content_types[0] if content_types else b""
    media = _media_type(content_type)
    if media == "application/json":
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            # RecursionError: nested deeper than the decoder goes (cjson has a depth limit too).
            raise AdminError(400, {"message": "Cannot parse JSON body"}) from None
        if not isinstance(data, dict) or _too_deep(body, data):
            raise AdminError(400, {"message": "Cannot parse JSON body"})
        return DecodedBody(data, form=False)
    if media == "application/x-www-form-urlencoded":
        pairs = form_pairs(_first_form_fields(body, max_args))
        return DecodedBody(decode_form_pairs(pairs), form=True)
    if media == "multipart/form-data":
        pairs = _decode_multipart(content_type, body, max_args)
        return DecodedBody(decode_form_pairs(pairs), form=True)
    raise AdminError(415, None)
