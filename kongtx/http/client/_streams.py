"""The request-body writer a connection hands a streaming request body."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from twisted.internet.interfaces import IPushProducer
from twisted.python.failure import Failure
from zope.interface import implementer

from kongtx.http.body import Body
from kongtx.http.client._types import UpstreamProtocolError

_CRLF = b"\r\n"
_LAST_CHUNK = b"0\r\n\r\n"


class RequestOutput(Protocol):
    """The transport the request goes out on."""

    def write(self, data: bytes) -> None: ...

    def writeSequence(self, data: Iterable[bytes]) -> None: ...


class RequestSender(Protocol):
    """What a :class:`BodyWriter` needs from its connection (``UpstreamConnection``)."""

    @property
    def output(self) -> RequestOutput:
        """The upstream connection's transport."""

    def request_written(self) -> None:
        """The whole request is out: the read timeout may start."""

    def request_failed(self, exc: BaseException) -> None:
        """The request body broke (or did not match its length): fail the exchange."""

    def write_blocked(self) -> None:
        """The upstream socket's buffer is full: the write timeout starts."""

    def write_unblocked(self) -> None:
        """The upstream reads again: the write timeout stops."""


@implementer(IPushProducer)
class BodyWriter:
    """Frames one request body onto the connection; registered as the
    transport's producer so a full socket buffer pauses the body's source."""

    __slots__ = ("active", "body", "chunked", "conn", "remaining")

    def __init__(self, conn: RequestSender, body: Body, chunked: bool) -> None:
        self.conn = conn
        self.body = body
        self.chunked = chunked
        self.remaining = body.length or 0
        self.active = True

    # BodyConsumer -----------------------------------------------------------
    def write(self, data: bytes) -> None:
        if not self.active or not data:
            return
        if self.chunked:
            self.conn.output.writeSequence((b"%x\r\n" % len(data), data, _CRLF))
            return
        self.remaining -= len(data)
        if self.remaining < 0:
            self.active = False
            self.conn.request_failed(
                UpstreamProtocolError("request body longer than its Content-Length")
            )
            return
        self.conn.output.write(data)

    def finish(self) -> None:
        if not self.active:
            return
        self.active = False
        if self.chunked:
            self.conn.output.write(_LAST_CHUNK)
        elif self.remaining:
            self.conn.request_failed(
                UpstreamProtocolError("request body shorter than its Content-Length")
            )
            return
        self.conn.request_written()

    def fail(self, reason: Failure) -> None:
        if self.active:
            self.active = False
            self.conn.request_failed(reason.value)

    # IPushProducer (driven by the upstream transport) -----------------------
    def pauseProducing(self) -> None:
        self.conn.write_blocked()
        self.body.pauseProducing()

    def resumeProducing(self) -> None:
        self.conn.write_unblocked()
        self.body.resumeProducing()

    def stopProducing(self) -> None:
        # The connection went away; connectionLost reports it.
        pass
