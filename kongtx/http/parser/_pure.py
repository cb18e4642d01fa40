"""HTTP/1.1 request and response parsers in pure Python, with httptools' interface.

For PyPy, where httptools (a C extension) runs through the slow cpyext layer.
The parser works a line at a time with ``bytes.find`` and compiled patterns
(:mod:`kongtx.http.parser._grammar`), which PyPy's JIT runs fast, and refuses
what llhttp in its strict mode refuses: bare CR or LF, obs-fold, CL with TE,
duplicate or malformed Content-Length, malformed chunk sizes and extensions,
unknown methods and versions. A line that cannot become valid is refused
before its end arrives. Callbacks are those of httptools (``on_message_begin``,
``on_url``, ``on_status``, ``on_header``, ``on_headers_complete``, ``on_body``,
``on_message_complete``), looked up once; an exception in one of them becomes
:class:`HttpParserCallbackError` with the exception as its ``__context__``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from kongtx.http.parser import _grammar as g
from kongtx.http.parser.errors import (
    HttpParserCallbackError,
    HttpParserError,
    HttpParserInvalidMethodError,
    HttpParserInvalidStatusError,
    HttpParserInvalidURLError,
    HttpParserUpgrade,
)

# Parser states.
_START = 0  # before a message: CR and LF bytes are skipped
_START_LINE = 1  # in the request or status line
_HEADERS = 2  # in the header section
_BODY = 3  # Content-Length body: ``_left`` bytes to go
_CHUNK_SIZE = 4  # in a chunk-size line
_CHUNK_DATA = 5  # in chunk data: ``_left`` bytes to go
_CHUNK_END = 6  # the CRLF after chunk data
_TRAILERS = 7  # in the trailer section
_UNTIL_EOF = 8  # a response body that the connection's close ends
_DEAD = 9  # after an error or an upgrade
_CLOSED = 10  # after a message that ends the connection: only CR and LF may follow

# Message flags (llhttp's).
_CHUNKED = 1
_CONTENT_LENGTH = 2
_TRANSFER_ENCODING = 4
_CLOSE = 8
_KEEP_ALIVE = 16
_CONNECTION_UPGRADE = 32
_UPGRADE = 64

#: An unfinished line longer than this is checked by its new bytes only (the
#: whole line is checked when it ends; kongtx bounds the unfinished head).
_FULL_CHECK = 2048

_Callback = Optional[Callable[..., Any]]


class _Fail(Exception):
    """A parse error inside ``feed_data`` (raised to the caller as ``kind(message)``)."""

    def __init__(self, message: str, kind: type[HttpParserError] = HttpParserError) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


def _callback(callbacks: object, name: str) -> _Callback:
    return getattr(callbacks, name, None)


def _check_version_prefix(text: Optional[bytes]) -> None:
    """Refuse an unfinished start line as soon as its ``HTTP/d.d`` is a version llhttp refuses."""
    if text is None:
        return
    at = text.find(b"HTTP/")
    if at >= 0 and len(text) >= at + 8:
        version = (text[at + 5] - 48, text[at + 7] - 48)
        if version not in g.VERSIONS:
            raise _Fail("Invalid HTTP version")


class _Parser:
    """What the request and response parsers share: headers, framing, body."""

    __slots__ = (
        "_buf",
        "_checked",
        "_error",
        "_flags",
        "_left",
        "_lenient_cl",
        "_major",
        "_minor",
        "_on_body",
        "_on_header",
        "_on_headers_complete",
        "_on_message_begin",
        "_on_message_complete",
        "_state",
        "_upgrade",
    )

    _is_request = True

    def __init__(self, callbacks: object) -> None:
        self._on_message_begin = _callback(callbacks, "on_message_begin")
        self._on_header = _callback(callbacks, "on_header")
        self._on_headers_complete = _callback(callbacks, "on_headers_complete")
        self._on_body = _callback(callbacks, "on_body")
        self._on_message_complete = _callback(callbacks, "on_message_complete")
        self._state = _START
        self._buf = b""
        self._checked = 0
        self._flags = 0
        self._left = 0
        self._major = 0
        self._minor = 0
        self._upgrade = False
        self._lenient_cl = False
        self._error = ""

    # -- httptools' interface ----------------------------------------------------------
    def get_http_version(self) -> str:
        """``"1.1"`` and the like; ``"0.0"`` before the first start line is parsed."""
        return "%d.%d" % (self._major, self._minor)

    def should_keep_alive(self) -> bool:
        """Whether the connection may carry another message after this one (llhttp's rule)."""
        if self._major > 0 and self._minor > 0:
            if self._flags & _CLOSE:
                return False
        elif not self._flags & _KEEP_ALIVE:
            return False
        return not self._needs_eof()

    def should_upgrade(self) -> bool:
        """Whether the message switches protocols (Upgrade + Connection: upgrade, or CONNECT)."""
        return self._upgrade

    def set_dangerous_leniencies(self, lenient_chunked_length: Optional[bool] = None) -> None:
        """Allow a Content-Length next to Transfer-Encoding (kongtx: in a chunked trailer)."""
        if lenient_chunked_length is not None:
            self._lenient_cl = lenient_chunked_length

    def feed_data(self, data: bytes) -> None:
        """Parse ``data``, calling back for each part of each message in it.

        :raises HttpParserUpgrade: the message upgraded the connection; ``args[0]``
            is the offset in ``data`` where the other protocol's bytes start.
        :raises HttpParserCallbackError: a callback raised (its exception is the
            ``__context__``).
        :raises HttpParserError: the bytes are not HTTP/1.x as llhttp accepts it.
        """
        if self._state == _DEAD:
            raise HttpParserError(self._error or "the parser is closed")
        if type(data) is not bytes:
            data = bytes(data)
        base = 0
        if self._buf:
            base = len(self._buf)
            data = self._buf + data
            self._buf = b""
        try:
            upgrade_at = self._run(data)
        except _Fail as fail:
            self._state = _DEAD
            self._error = fail.message
            raise fail.kind(fail.message) from None
        except BaseException:
            self._state = _DEAD
            self._error = "a callback failed"
            raise HttpParserCallbackError("the on_* callback failed")  # noqa: B904 - context kept
        if upgrade_at >= 0:
            self._state = _DEAD
            self._error = "the connection was upgraded"
            raise HttpParserUpgrade(upgrade_at - base)

    # -- the state machine -------------------------------------------------------------
    def _run(self, data: bytes) -> int:
        """Parse ``data``; the offset where an upgrade starts, else -1."""
        pos = 0
        size = len(data)
        while pos < size:
            state = self._state
            if state in (_BODY, _CHUNK_DATA):
                left = self._left
                end = pos + left
                if end > size:
                    self._left = left - (size - pos)
                    self._body(data[pos:] if pos else data)
                    return -1
                self._left = 0
                self._body(data[pos:end])
                pos = end
                if state == _BODY:
                    self._complete()
                else:
                    self._state = _CHUNK_END
                continue
            if state == _UNTIL_EOF:
                self._body(data[pos:] if pos else data)
                return -1
            if state == _CHUNK_END:
                if data.startswith(b"\r\n", pos):
                    pos += 2
                    self._state = _CHUNK_SIZE
                    continue
                if size - pos == 1 and data[pos] == 13:
                    self._buf = data[pos:]
                    return -1
                raise _Fail("Expected LF after chunk data")
            if state in (_START, _CLOSED):
                while pos < size and (data[pos] == 13 or data[pos] == 10):
                    pos += 1
                if pos == size:
                    return -1
                if state == _CLOSED:
                    raise _Fail("Data after `Connection: close`")
                self._state = state = _START_LINE
                self._checked = 0
                if self._on_message_begin is not None:
                    self._on_message_begin()
            end = data.find(b"\r\n", pos)
            if end < 0:
                self._partial(data, pos)
                self._buf = data[pos:]
                return -1
            if state in (_HEADERS, _TRAILERS):
                if end == pos:
                    pos = end + 2
                    if state == _TRAILERS:
                        self._complete()
                    else:
                        upgrade_at = self._headers_complete(pos)
                        if upgrade_at >= 0:
                            return upgrade_at
                    continue
                self._header_line(data, pos, end)
            elif state == _START_LINE:
                self._start_line(data, pos, end)
                self._state = _HEADERS
            else:  # _CHUNK_SIZE
                self._chunk_size(data, pos, end)
            self._checked = 0
            pos = end + 2
        return -1

    def _body(self, data: bytes) -> None:
        if data and self._on_body is not None:
            self._on_body(data)

    def _partial(self, data: bytes, pos: int) -> None:
        """Refuse an unfinished line that cannot become valid (as llhttp would, byte by byte)."""
        tail_size = len(data) - pos
        if tail_size <= _FULL_CHECK or not self._checked:
            self._check_prefix(data, pos)
        else:
            # Only the new bytes: no line break may be in them but a CR at the very end.
            new = data[pos + self._checked :]
            if not new:
                return
            if b"\n" in new or b"\r" in new[:-1] or data[pos + self._checked - 1] == 13:
                raise _Fail("Missing expected LF after CR")
            self._long_line(data, pos)
        self._checked = tail_size

    def _check_prefix(self, data: bytes, pos: int) -> None:
        state = self._state
        if state in (_HEADERS, _TRAILERS):
            pattern = g.HEADER_PREFIX
        elif state == _CHUNK_SIZE:
            pattern = g.CHUNK_SIZE_PREFIX
        else:
            self._start_line_prefix(data, pos)
            return
        if pattern.fullmatch(data, pos) is None:
            raise _Fail("Invalid character in line")
        if pattern is g.HEADER_PREFIX:
            self._header_prefix(data, pos)

    def _header_prefix(self, data: bytes, pos: int) -> None:
        """Refuse a framing header as soon as its name (and what of its value is in) is wrong."""
        colon = data.find(b":", pos)
        size = colon - pos
        if size == 14:
            name = data[pos:colon].lower()
            if name == b"content-length":
                flags = self._flags
                if flags & _TRANSFER_ENCODING and not self._lenient_cl:
                    raise _Fail("Content-Length can't be present with Transfer-Encoding")
                value = data[colon + 1 :].lstrip(b" \t")
                if value and flags & _CONTENT_LENGTH:
                    raise _Fail("Duplicate Content-Length")
                if g.CONTENT_LENGTH_PREFIX.fullmatch(value) is None:
                    raise _Fail("Invalid character in Content-Length")
        elif size == 17 and data[pos:colon].lower() == b"transfer-encoding":
            flags = self._flags
            if flags & _CONTENT_LENGTH and not self._lenient_cl:
                raise _Fail("Transfer-Encoding can't be present with Content-Length")
            value = data[colon + 1 :].lstrip(b" \t")
            if value and self._is_request:
                codings = value.split(b",")
                if flags & _CHUNKED or any(
                    coding.lstrip(b" \t").rstrip(b" ").lower() == b"chunked"
                    for coding in codings[:-1]
                ):
                    raise _Fail("Invalid `Transfer-Encoding` header value")

    def _long_line(self, data: bytes, pos: int) -> None:
        """The unfinished start line is long (a long target): hand the target over so far."""

    def _header_line(self, data: bytes, pos: int, end: int) -> None:
        match = g.HEADER.fullmatch(data, pos, end)
        if match is None:
            raise _Fail("Invalid header token")
        name, value = match.group(1, 2)
        size = len(name)
        if size == 14:
            if name.lower() == b"content-length":
                self._content_length(value)
        elif size == 17:
            if name.lower() == b"transfer-encoding":
                self._transfer_encoding(value)
        elif size == 10:
            if name.lower() == b"connection":
                self._connection(value)
        elif size == 7 and name.lower() == b"upgrade":
            self._flags |= _UPGRADE
        if self._on_header is not None:
            self._on_header(name, value)

    def _content_length(self, value: bytes) -> None:
        flags = self._flags
        if flags & _CONTENT_LENGTH:
            raise _Fail("Duplicate Content-Length")
        if flags & _TRANSFER_ENCODING and not self._lenient_cl:
            raise _Fail("Content-Length can't be present with Transfer-Encoding")
        match = g.CONTENT_LENGTH.fullmatch(value)
        if match is None:
            raise _Fail("Invalid character in Content-Length")
        length = int(match.group(1))
        if length > g.MAX_LENGTH:
            raise _Fail("Content-Length overflow")
        self._flags = flags | _CONTENT_LENGTH
        self._left = length

    def _transfer_encoding(self, value: bytes) -> None:
        flags = self._flags
        if flags & _CONTENT_LENGTH and not self._lenient_cl:
            raise _Fail("Transfer-Encoding can't be present with Content-Length")
        if not value:
            raise _Fail("Empty Transfer-Encoding")
        flags |= _TRANSFER_ENCODING
        for coding in value.split(b","):
            if flags & _CHUNKED and self._is_request:
                # A request's chunked must be the last coding (RFC 9112 §6.1).
                raise _Fail("Invalid `Transfer-Encoding` header value")
            # llhttp: OWS before a coding, but only spaces after "chunked".
            if coding.lstrip(b" \t").rstrip(b" ").lower() == b"chunked":
                flags |= _CHUNKED
            else:
                flags &= ~_CHUNKED
        self._flags = flags

    def _connection(self, value: bytes) -> None:
        flags = self._flags
        for token in value.lower().split(b","):
            token = token.strip(b" \t")
            if token == b"close":
                flags |= _CLOSE
            elif token == b"keep-alive":
                flags |= _KEEP_ALIVE
            elif token == b"upgrade":
                flags |= _CONNECTION_UPGRADE
        self._flags = flags

    def _chunk_size(self, data: bytes, pos: int, end: int) -> None:
        match = g.CHUNK_SIZE.fullmatch(data, pos, end)
        if match is None:
            raise _Fail("Invalid character in chunk size or extensions")
        size = int(match.group(1), 16)
        if size > g.MAX_LENGTH:
            raise _Fail("Chunk size overflow")
        if size:
            self._left = size
            self._state = _CHUNK_DATA
        else:
            self._state = _TRAILERS

    def _headers_complete(self, pos: int) -> int:
        """The header section ended at ``pos``: pick the body's framing; an upgrade's offset or -1."""
        flags = self._flags
        upgrade = self._is_upgrade()
        self._upgrade = upgrade
        if self._on_headers_complete is not None:
            self._on_headers_complete()
        if upgrade or self._switches():
            # httptools skips the body of an upgrade: the rest is the other protocol's.
            self._complete()
            if upgrade:
                return pos
            raise _Fail("Pause on CONNECT/Upgrade")
        if self._no_body():
            self._complete()
            return -1
        if flags & _CHUNKED:
            self._state = _CHUNK_SIZE
        elif flags & _TRANSFER_ENCODING:
            if self._is_request:
                raise _Fail("Request has invalid `Transfer-Encoding`")
            self._state = _UNTIL_EOF
        elif flags & _CONTENT_LENGTH:
            if not self._left:
                self._complete()
                return -1
            self._state = _BODY
        elif self._is_request:
            self._complete()
        else:
            self._state = _UNTIL_EOF
        return -1

    def _complete(self) -> None:
        self._state = _START if self.should_keep_alive() else _CLOSED
        self._flags = 0
        self._left = 0
        if self._on_message_complete is not None:
            self._on_message_complete()

    # -- what requests and responses do differently --------------------------------------
    def _start_line(self, data: bytes, pos: int, end: int) -> None:
        raise NotImplementedError

    def _start_line_prefix(self, data: bytes, pos: int) -> None:
        raise NotImplementedError

    def _is_upgrade(self) -> bool:
        raise NotImplementedError

    def _switches(self) -> bool:
        """A 101 response without the headers of an upgrade (llhttp stops there)."""
        return False

    def _no_body(self) -> bool:
        return False

    def _needs_eof(self) -> bool:
        return False


class HttpRequestParser(_Parser):
    """Parses requests; ``get_method()`` gives the method once the request line is in."""

    __slots__ = ("_method", "_on_url", "_url_sent", "_url_start")

    def __init__(self, callbacks: object) -> None:
        super().__init__(callbacks)
        self._on_url = _callback(callbacks, "on_url")
        self._method = b""
        self._url_sent = 0
        self._url_start = -1

    def get_method(self) -> bytes:
        """The request's method (``b"GET"``), once its request line is parsed."""
        return self._method

    def _start_line(self, data: bytes, pos: int, end: int) -> None:
        match = g.REQUEST_LINE.fullmatch(data, pos, end)
        if match is None:
            self._start_line_prefix(data, pos, end)
            raise _Fail("Invalid request line")
        method, url, major, minor = match.group(1, 2, 3, 4)
        if method not in g.METHODS:
            raise _Fail("Invalid method", HttpParserInvalidMethodError)
        pattern = g.CONNECT_URL if method == b"CONNECT" else g.URL
        if pattern.fullmatch(url) is None:
            raise _Fail("Invalid URL", HttpParserInvalidURLError)
        version = (int(major), int(minor))
        if version not in g.VERSIONS:
            raise _Fail("Invalid HTTP version")
        self._method = method
        self._major, self._minor = version
        sent = self._url_sent
        if sent:
            self._url_sent = 0
            self._url_start = -1
            url = url[sent:]
        if url and self._on_url is not None:
            self._on_url(url)

    def _start_line_prefix(self, data: bytes, pos: int, end: int = -1) -> None:
        match = g.REQUEST_LINE_PREFIX.fullmatch(data, pos, len(data) if end < 0 else end)
        if match is None:
            raise _Fail("Invalid request line")
        _check_version_prefix(match.group(4))
        method = match.group(1)
        if match.group(2) is None:
            if method not in g.METHOD_PREFIXES:
                raise _Fail("Invalid method", HttpParserInvalidMethodError)
            return
        if method not in g.METHODS:
            raise _Fail("Invalid method", HttpParserInvalidMethodError)
        url = match.group(3)
        if url:
            if method == b"CONNECT":
                pattern = g.CONNECT_URL
            else:
                pattern = g.URL if match.group(4) is not None else g.URL_PREFIX
            if pattern.fullmatch(url) is None:
                raise _Fail("Invalid URL", HttpParserInvalidURLError)
            if end < 0:
                self._send_url(url, match.start(3) - pos)

    def _send_url(self, url: bytes, start: int) -> None:
        """Hand over the target so far (kongtx bounds it: 414 before the line ends)."""
        self._url_start = start
        sent = self._url_sent
        if len(url) > sent:
            self._url_sent = len(url)
            if self._on_url is not None:
                self._on_url(url[sent:])

    def _long_line(self, data: bytes, pos: int) -> None:
        start = self._url_start
        if self._state != _START_LINE or start < 0:
            return
        begin = pos + start + self._url_sent
        new = data[begin:]
        if g.VISIBLE_RUN.fullmatch(new) is None:
            self._start_line_prefix(data, pos)  # the target ended: check the whole line once
            return
        self._url_sent += len(new)
        if new and self._on_url is not None:
            self._on_url(new)

    def _is_upgrade(self) -> bool:
        flags = self._flags
        if flags & _UPGRADE and flags & _CONNECTION_UPGRADE:
            return True
        return self._method == b"CONNECT"


class HttpResponseParser(_Parser):
    """Parses responses; ``get_status_code()`` gives the status once the status line is in."""

    __slots__ = ("_on_status", "_status")

    _is_request = False

    def __init__(self, callbacks: object) -> None:
        super().__init__(callbacks)
        self._on_status = _callback(callbacks, "on_status")
        self._status = 0

    def get_status_code(self) -> int:
        """The response's status code, once its status line is parsed."""
        return self._status

    def _start_line(self, data: bytes, pos: int, end: int) -> None:
        match = g.STATUS_LINE.fullmatch(data, pos, end)
        if match is None:
            raise _Fail("Invalid status line", HttpParserInvalidStatusError)
        major, minor, status, reason = match.group(1, 2, 3, 4)
        version = (int(major), int(minor))
        if version not in g.VERSIONS:
            raise _Fail("Invalid HTTP version")
        self._major, self._minor = version
        self._status = int(status)
        if reason is not None and self._on_status is not None:
            self._on_status(reason)

    def _start_line_prefix(self, data: bytes, pos: int, end: int = -1) -> None:
        if g.STATUS_LINE_PREFIX.fullmatch(data, pos) is None:
            raise _Fail("Invalid status line", HttpParserInvalidStatusError)
        _check_version_prefix(data[pos : pos + 8])

    def _is_upgrade(self) -> bool:
        flags = self._flags
        return bool(flags & _UPGRADE and flags & _CONNECTION_UPGRADE and self._status == 101)

    def _switches(self) -> bool:
        return self._status == 101

    def _no_body(self) -> bool:
        status = self._status
        return status // 100 == 1 or status == 204 or status == 304

    def _needs_eof(self) -> bool:
        if self._no_body():
            return False
        flags = self._flags
        if flags & _TRANSFER_ENCODING and not flags & _CHUNKED:
            return True
        return not flags & (_CHUNKED | _CONTENT_LENGTH)


__all__ = ["HttpRequestParser", "HttpResponseParser"]
