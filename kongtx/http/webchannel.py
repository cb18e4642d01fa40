"""twisted.web's HTTP channel with nginx's guards, for the Admin API and the resource front-end.

* a malformed request gets its 400 and a lingering close (the rest of the input is
  drained for a moment, so the close is no TCP reset that destroys the answer);
* the request head must arrive within ``header_timeout`` seconds of its first byte
  (nginx's ``client_header_timeout``): a client sending a byte a second no longer
  holds the connection forever (twisted.web's idle timeout restarts on every byte);
* a body over the site's ``max_body_size`` gets nginx's 413, as soon as the declared
  length (or the chunks received so far) says so;
* form and multipart bodies are not parsed by twisted.web (the Admin API and the
  gateway read ``content`` themselves).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel
from twisted.web.server import Request

__all__ = ["GuardedChannel", "LimitedRequest"]

#: nginx's own page for 413 (no ``error_page`` on Kong's Admin API server block).
_PAYLOAD_TOO_LARGE = (
    b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    b"<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>kongtx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)

#: nginx's default ``client_header_timeout``.
DEFAULT_HEADER_TIMEOUT = 60.0


class GuardedChannel(HTTPChannel):
    """An ``HTTPChannel`` with a lingering close, a header deadline and a body limit.

    The limits are read from the site: ``header_timeout`` (seconds, 0: none) and
    ``max_body_size`` (bytes, 0: none).
    """

    site: Any = None  # set by the Site that builds the channel
    _head_call: IDelayedCall | None = None
    _refused = False

    # -- nginx's client_header_timeout --------------------------------------------------
    def connectionMade(self) -> None:
        super().connectionMade()
        self._arm_head_deadline()

    def dataReceived(self, data: bytes) -> None:
        if self.line_mode and self._head_call is None:
            self._arm_head_deadline()  # the first byte of a new request head
        super().dataReceived(data)

    def allHeadersReceived(self) -> None:
        self._cancel_head_deadline()
        limit = getattr(self.site, "max_body_size", 0)
        if limit and self.length is not None and self.length > limit:
            self.refuse_body()
            return
        super().allHeadersReceived()

    def allContentReceived(self) -> None:
        if not self._refused:  # a body refused mid-way is never handed to the resource
            super().allContentReceived()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._cancel_head_deadline()
        super().connectionLost(reason)

    def _arm_head_deadline(self) -> None:
        timeout = getattr(self.site, "header_timeout", DEFAULT_HEADER_TIMEOUT)
        if timeout and not self._refused:
            self._head_call = self.callLater(timeout, self._head_expired)

    def _cancel_head_deadline(self) -> None:
        call, self._head_call = self._head_call, None
        if call is not None and call.active():
            call.cancel()

    def _head_expired(self) -> None:
        self._head_call = None
        if self.transport is not None:
            self.transport.abortConnection()  # type: ignore[attr-defined] # nginx: no answer

    # -- refusals ----------------------------------------------------------------------
    def _respondToBadRequestAndDisconnect(self) -> None:
        self._reject(b"Bad request")

    def lineLengthExceeded(self, line: bytes) -> None:
        """A request or header line over the limit: Kong's 494, sent as 400."""
        self._reject(b"Request header or cookie too large")

    def _reject(self, message: bytes) -> None:
        body = message + b"\n"
        self._refuse(b"400 Bad Request", b"text/plain; charset=utf-8", body)

    def refuse_body(self) -> None:
        """The request body is over the site's ``max_body_size``: nginx's 413, then close."""
        self._refuse(b"413 Request Entity Too Large", b"text/html", _PAYLOAD_TOO_LARGE)

    def _refuse(self, status: bytes, content_type: bytes, body: bytes) -> None:
        if self._refused:
            return
        self._refused = True
        self._cancel_head_deadline()
        transport = self.transport
        if transport is None:
            return
        transport.write(
            b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (status, content_type, len(body), body)
        )
        self.dataReceived = lambda data: None  # type: ignore[method-assign]
        self.setTimeout(None)
        self.callLater(1.0, transport.loseConnection)


class LimitedRequest(Request):
    """A twisted.web ``Request`` whose chunked body is held to the site's ``max_body_size``,
    and whose form or multipart body twisted.web leaves alone (it would parse it into
    ``args`` first: 50,000 multipart parts held the reactor for over a minute)."""

    _received = 0

    def __init__(self, channel: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["parsePOSTFormSubmission"] = False
        super().__init__(channel, *args, **kwargs)

    def handleContentChunk(self, data: bytes) -> None:
        channel: GuardedChannel = self.channel  # type: ignore[assignment]
        limit = getattr(channel.site, "max_body_size", 0)
        self._received += len(data)
        if limit and self._received > limit:
            channel.refuse_body()
            return
        super().handleContentChunk(data)
