"""A connection switched to raw bytes after ``101 Switching Protocols`` (WebSocket).

One class serves every side: the client connection of the native HTTP server
and of the twisted.web front-end, and the upstream connection of the pooled
client. :func:`kongtx.http.splice.splice` joins two of them with back-pressure
both ways. The connection that owns the socket feeds the channel
(:meth:`RawChannel.data_received`, :meth:`RawChannel.connection_lost`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

__all__ = ["RawChannel"]


@implementer(IPushProducer)
class RawChannel:
    """Raw bytes over an upgraded connection.

    :param transport: the connection's transport (``write``, ``loseConnection``,
        ``registerProducer``...).
    :param buffered: bytes that arrived after the 101 head, before the channel.
    :param closed: the connection is already gone.
    :param held: reading is paused until a receiver is set (then resumed).
    :param pause_reading: how to stop reading from the socket (default:
        ``transport.pauseProducing``).
    :param resume_reading: how to read again (default: ``transport.resumeProducing``).
    """

    __slots__ = (
        "_buffer",
        "_closed",
        "_held",
        "_on_close",
        "_on_data",
        "_pause",
        "_paused",
        "_producing",
        "_resume",
        "_transport",
    )

    def __init__(
        self,
        transport: Any,
        buffered: Iterable[bytes] = (),
        *,
        closed: bool = False,
        held: bool = False,
        pause_reading: Callable[[], None] | None = None,
        resume_reading: Callable[[], None] | None = None,
    ) -> None:
        self._transport = transport
        self._buffer = list(buffered)
        self._on_data: Callable[[bytes], None] | None = None
        self._on_close: Callable[[], None] | None = None
        self._closed = closed
        self._held = held
        self._paused = False  # paused by our user (splice back-pressure)
        self._producing = False  # a producer is registered on our transport
        self._pause = pause_reading or transport.pauseProducing
        self._resume = resume_reading or transport.resumeProducing

    # -- what the user of the channel calls ------------------------------------------
    def write(self, data: bytes) -> None:
        """Send bytes to the peer."""
        if not self._closed:
            self._transport.write(data)

    def close(self) -> None:
        """Close the connection once pending bytes are written."""
        if self._producing:
            self._producing = False
            self._transport.unregisterProducer()
        if not self._closed:
            self._transport.loseConnection()

    def set_receiver(self, on_data: Callable[[bytes], None], on_close: Callable[[], None]) -> None:
        """Deliver buffered then live bytes to ``on_data``, and the close to ``on_close``."""
        self._on_data = on_data
        self._on_close = on_close
        buffered, self._buffer = self._buffer, []
        for data in buffered:
            on_data(data)
        if self._closed:
            self._on_close = None
            on_close()
            return
        if self._held:
            self._held = False
            if not self._paused:
                self._resume()

    def register_producer(self, producer: IPushProducer) -> None:
        """Let this connection's socket pause ``producer`` while its write buffer is full."""
        if not self._closed:
            self._producing = True
            self._transport.registerProducer(producer, True)

    def pauseProducing(self) -> None:
        if not self._paused:
            self._paused = True
            if not self._held and not self._closed:
                self._pause()

    def resumeProducing(self) -> None:
        if self._paused:
            self._paused = False
            if not self._held and not self._closed:
                self._resume()

    def stopProducing(self) -> None:
        self.close()

    # -- what the connection owning the socket calls ---------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._on_data is None:
            self._buffer.append(data)
        else:
            self._on_data(data)

    def connection_lost(self) -> None:
        self._closed = True
        callback, self._on_close = self._on_close, None
        if callback is not None:
            callback()
