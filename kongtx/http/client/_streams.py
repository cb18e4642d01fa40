"""The pieces a connection hands out: the request-body writer and the raw channel after a 101."""

from __future__ import annotations

from collections.abc import Callable
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
class _BodyWriter:
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


class UpstreamChannel:
    """The upstream side of a connection switched to raw bytes by a 101."""

    __slots__ = ("_buffer", "_closed", "_conn", "_on_close", "_on_data", "_producer")

    def __init__(self, conn: UpstreamConnection) -> None:
        self._conn = conn
        self._buffer: list[bytes] = []
        self._on_data: Callable[[bytes], None] | None = None
        self._on_close: Callable[[], None] | None = None
        self._closed = False
        self._producer = False

    def write(self, data: bytes) -> None:
        """Send raw bytes upstream."""
        if not self._closed:
            self._conn.transport.write(data)

    def close(self) -> None:
        """Close the connection once buffered bytes are written."""
        transport = self._conn.transport
        if self._producer:
            self._producer = False
            transport.unregisterProducer()
        transport.loseConnection()

    def set_receiver(self, on_data: Callable[[bytes], None], on_close: Callable[[], None]) -> None:
        """Deliver buffered then live bytes to ``on_data``; ``on_close`` when the connection ends."""
        self._on_data = on_data
        self._on_close = on_close
        buffered, self._buffer = self._buffer, []
        for chunk in buffered:
            on_data(chunk)
        if self._closed:
            on_close()

    def pauseProducing(self) -> None:
        self._conn._pause_reading()

    def resumeProducing(self) -> None:
        self._conn._resume_reading()

    def stopProducing(self) -> None:
        self._conn.transport.abortConnection()

    def register_producer(self, producer: IPushProducer) -> None:
        """Let the upstream socket pause ``producer`` when its write buffer fills."""
        if not self._closed:
            self._producer = True
            self._conn.transport.registerProducer(producer, True)

    def _data(self, data: bytes) -> None:
        on_data = self._on_data
        if on_data is None:
            self._buffer.append(data)
        else:
            on_data(data)

    def _lost(self) -> None:
        self._closed = True
        if self._on_close is not None:
            self._on_close()
