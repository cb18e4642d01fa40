"""The upstream client's response parser, built in one place: the one :mod:`kongtx.http.parser`
picks (httptools' llhttp on CPython, the pure-Python parser, as strict, on PyPy).

The connection (:class:`~kongtx.http.client.UpstreamConnection`) is the
parser's callbacks object (``on_message_begin``, ``on_status``, ``on_header``,
``on_headers_complete``, ``on_body``, ``on_message_complete``). Both parsers have
httptools' interface (:class:`ResponseParser`) and raise the same classes
(:mod:`kongtx.http.parser.errors`: ``HttpParserUpgrade`` after a ``101``, its
``args[0]`` the offset of the bytes after it).
"""

from __future__ import annotations

from typing import Protocol

from kongtx.http import parser as http_parser

#: Kong's ``proxy_buffer_size`` (160k): the largest response head relayed.
DEFAULT_MAX_HEAD_SIZE = 160 * 1024
#: Response header fields accepted (nginx has no count of its own: the buffer bounds it).
DEFAULT_MAX_HEADERS = 1000
#: Slack over ``max_head_size`` for the raw bytes of an unfinished head (one read's worth).
READ_SLACK = 65536


class SkipBody(Exception):
    """Raised from ``on_headers_complete`` to end a HEAD response at its headers."""


class HeadTooLarge(Exception):
    """The upstream's response head is over the pool's limits (nginx: "upstream sent too
    big header")."""


class ResponseParser(Protocol):
    """What the connection uses of its parser (httptools' ``HttpResponseParser`` interface)."""

    def feed_data(self, data: bytes) -> None: ...

    def get_status_code(self) -> int: ...

    def get_http_version(self) -> str: ...

    def should_keep_alive(self) -> bool: ...


def new_response_parser(callbacks: object) -> ResponseParser:
    """Build a parser for one response stream, calling back into ``callbacks``."""
    parser: ResponseParser = http_parser.new_response_parser(callbacks)
    return parser
