"""Pre-computed wire fragments for the native server: status lines, dates, error pages."""

from __future__ import annotations

from email.utils import formatdate
from http import HTTPStatus

from twisted.internet.interfaces import IReactorTime

#: ``"HTTP/1.1 200 OK\r\n"`` per known status code, built once at import.
STATUS_LINES: dict[int, str] = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n" for s in HTTPStatus}
#: The standard reason phrase per known status code.
PHRASES: dict[int, str] = {s.value: s.phrase for s in HTTPStatus}

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
CHUNKED_END = b"0\r\n\r\n"
CRLF = b"\r\n"

# Messages of Kong's nginx-level error pages (kong/error_handlers.lua).
BAD_REQUEST = "Bad request"
HEADER_TOO_LARGE = "Request header or cookie too large"  # nginx 494, sent as 400
URI_TOO_LONG = "URI too long"
PAYLOAD_TOO_LARGE = "Payload too large"
REQUEST_TIMEOUT = "Request timeout"
NOT_ALLOWED = "Method not allowed"
VERSION_NOT_SUPPORTED = "HTTP version not supported"
UNEXPECTED = "An unexpected error occurred"


def status_line(status: int, reason: str | None) -> str:
    """Return the status line (with CRLF) for ``status``, honouring a custom ``reason``."""
    if reason is None or PHRASES.get(status) == reason:
        # The standard line (a relayed upstream reason usually is the standard one).
        line = STATUS_LINES.get(status)
        if line is not None:
            return line
        reason = ""
    return f"HTTP/1.1 {status} {reason}\r\n"


class DateCache:
    """The ``Date:`` header line, formatted at most once per second of ``clock``."""

    __slots__ = ("_clock", "_line", "_second")

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._second = -1
        self._line = ""

    def line(self) -> str:
        """Return ``"Date: <IMF-fixdate>\\r\\n"`` for the current second."""
        second = int(self._clock.seconds())
        if second != self._second:
            self._second = second
            self._line = f"Date: {formatdate(second, usegmt=True)}\r\n"
        return self._line


def error_response(status: int, message: str, date_line: str, server_line: str) -> bytes:
    """Serialize a server-generated plain-text error that closes the connection.

    :param status: the HTTP status (400, 413, ...).
    :param message: Kong's message for it (``Bad request``).
    """
    body = f"{message}\n".encode("latin-1")
    head = (
        f"{status_line(status, None)}{date_line}{server_line}"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body
