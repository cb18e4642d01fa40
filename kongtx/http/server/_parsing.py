"""The server's request parser, built in one place: the one :mod:`kongtx.http.parser` picks
(httptools' llhttp on CPython, the pure-Python parser, as strict, on PyPy).

The connection (:class:`~kongtx.http.server.HTTPServerProtocol`) is the parser's
callbacks object: llhttp calls its ``on_message_begin``, ``on_url``,
``on_header``, ``on_headers_complete``, ``on_body`` and ``on_message_complete``.
Both parsers have httptools' interface (:class:`RequestParser`) and raise the
same classes (:mod:`kongtx.http.parser.errors`: ``HttpParserUpgrade`` after an
upgrade request, its ``args[0]`` the offset of the bytes after it).
"""

from __future__ import annotations

from typing import Protocol

from kongtx.http import parser as http_parser

#: Request bytes buffered before the core reads the body; past this, reading pauses.
WAIT_BUFFER = 65536

#: Method names as ``str``, decoded once per distinct method.
METHOD_NAMES: dict[bytes, str] = {}


class RequestRejected(Exception):
    """The request stream broke (bad framing, too large, timeout); given to the body's consumer."""


class RequestParser(Protocol):
    """What the connection uses of its parser (httptools' ``HttpRequestParser`` interface)."""

    def feed_data(self, data: bytes) -> None: ...

    def get_http_version(self) -> str: ...

    def get_method(self) -> bytes: ...

    def should_keep_alive(self) -> bool: ...

    def should_upgrade(self) -> bool: ...

    def set_dangerous_leniencies(self, *, lenient_chunked_length: bool = ...) -> None: ...


def new_request_parser(callbacks: object) -> RequestParser:
    """Build the parser for one connection, calling back into ``callbacks``."""
    parser: RequestParser = http_parser.new_request_parser(callbacks)
    return parser
