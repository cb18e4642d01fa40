"""The per-request view handlers get: method, query arguments, decoded body."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from twisted.web.iweb import IRequest

from kongtx.admin.decode import DEFAULT_MAX_ARGS, DecodedBody, decode_body

__all__ = ["AdminRequest", "Response"]


@dataclass
class Response:
    """A handler's answer: ``body`` ``None`` means an empty body; ``bytes`` is JSON
    already serialized (large answers built off the reactor)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class AdminRequest:
    """Wraps a twisted.web request for Admin API handlers.

    :param request: the twisted.web request.
    :param method: the effective verb (``HEAD`` is served as ``GET``).
    :param path: the raw request path (before percent-decoding).
    :param max_args: form fields parsed from a body (``lua_max_post_args``).
    """

    def __init__(
        self, request: IRequest, method: str, path: str, max_args: int = DEFAULT_MAX_ARGS
    ) -> None:
        self.request = request
        self.max_args = max_args
        self.method = method
        self.path = path
        uri: bytes = request.uri
        query = uri.split(b"?", 1)[1] if b"?" in uri else b""
        self.query: dict[str, list[bytes]] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            self.query.setdefault(key.decode("utf-8", "replace"), []).append(value)
        self._body: DecodedBody | None = None

    def arg_bytes(self, name: str) -> bytes | None:
        """The first value of query argument ``name`` (percent-decoded bytes)."""
        values = self.query.get(name)
        return values[0] if values else None

    def arg(self, name: str) -> str | None:
        """The first value of query argument ``name`` as text."""
        raw = self.arg_bytes(name)
        return None if raw is None else raw.decode("utf-8", "replace")

    def body(self) -> DecodedBody:
        """Decode the request body once (raises :class:`AdminError` on bad input)."""
        if self._body is None:
            content = self.request.content
            raw = content.read() if content is not None else b""
            types = self.request.requestHeaders.getRawHeaders(b"content-type")
            self._body = decode_body(types, raw, self.max_args)
        return self._body
