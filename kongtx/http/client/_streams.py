"""The pieces a connection hands out: the request-body writer and the raw channel after a 101."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IPushProducer
from twisted.python.failure import Failure
from zope.interface import implementer

from kongtx.http.client._types import UpstreamProtocolError

if TYPE_CHECKING:
    from kongtx.http.client._connection import UpstreamConnection

_CRLF = b"\r\n"
_LAST_CHUNK = b"0\r\n\r\n"


@implementer(IPushProducer)
class BodyWriter:
    """Frames one request body onto the connection; registered as the
    transport's producer so a full socket buffer pauses the body's source."""

    __slots__ = ("active", "body", "chunked", "conn", "remaining")

    def __init__(self, conn: UpstreamConnection, body: Any, chunked: bool) -> None:
        self.conn = conn
        self.body = body
        self.chunked = chunked
        self.remaining = body.length
        self.active = True

    # BodyConsumer -----------------------------------------------------------
    def write(self, data: bytes) -> None:
        if not self.active or not data:
            return
        if self.chunked:
            self.conn.transport.writeSequence((b"%x\r\n" % len(data), data, _CRLF))
            return
        self.remaining -= len(data)
        if self.remaining < 0:
            self.active = False
            self.conn._request_failed(
                UpstreamProtocolError("request body longer than its Content-Length")
            )
            return
        self.conn.transport.write(data)

    def finish(self) -> None:
        if not self.active:
            return
        self.active = False
        if self.chunked:
            self.conn.transport.write(_LAST_CHUNK)
        elif self.remaining:
            self.conn._request_failed(
                UpstreamProtocolError("request body shorter than its Content-Length")
            )
            return
        self.conn._request_written()

    def fail(self, reason: Failure) -> None:
        if self.active:
            self.active = False
            self.conn._request_failed(reason.value)

    # IPushProducer (driven by the upstream transport) -----------------------
    def pauseProducing(self) -> None:
        self.conn._write_blocked()
        self.body.pauseProducing()

    def resumeProducing(self) -> None:
        self.conn._write_unblocked()
        self.body.resumeProducing()

    def stopProducing(self) -> None:
        # The connection went away; connectionLost reports it.
        pass
