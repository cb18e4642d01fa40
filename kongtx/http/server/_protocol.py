"""The native HTTP/1.1 server protocol: httptools (llhttp, strict) parsing, keep-alive, pipelining.

This module holds the connection: dispatch, flow control, closing and timers;
the parser callbacks are in :mod:`kongtx.http.server._parsing`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from httptools import HttpRequestParser
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from kongtx.http.connstats import CLOSED, READING, WAITING, WRITING
from kongtx.http.gateway_io import GatewayRequest
from kongtx.http.raw_channel import RawChannel
from kongtx.http.server import _wire
from kongtx.http.server._exchange import (
    PAUSE_BODY,
    PAUSE_ERROR,
    PAUSE_PIPELINE,
    PAUSE_WAIT,
    Exchange,
)
from kongtx.http.server._parsing import BODY, HEADER, KEEPALIVE, RequestParsing, RequestRejected

if TYPE_CHECKING:
    from kongtx.http.server._factory import HTTPServerFactory

log = Logger()

RequestHandler = Callable[[GatewayRequest, Exchange], object]

_CONNECTION_LOST = Failure(ConnectionLost())

#: Unread request body (Content-Length) drained after an early response, instead of closing.
DRAIN_LIMIT = 65536


class HTTPServerProtocol(RequestParsing, Protocol):
    """One client connection. Built by :class:`HTTPServerFactory`."""

    __slots__ = (
        "_active",
        "_channel",
        "_client_ip",
        "_client_port",
        "_clock",
        "_conn_state",
        "_deadline",
        "_dispatching",
        "_factory",
        "_handler",
        "_header_size",
        "_in_feed",
        "_in_message",
        "_parser",
        "_pause_mask",
        "_pending_error",
        "_queue",
        "_raw",
        "_raw_count",
        "_raw_headers",
        "_server_port",
        "_sni",
        "_timer",
        "_timer_kind",
        "_tls_done",
        "_tls_version",
        "_upgrade_buf",
        "_url",
        "closing",
        "current",
        "date_line",
        "lost",
        "server_line",
    )

    def __init__(self, factory: HTTPServerFactory) -> None:
        self._factory = factory
        self._handler = factory.handler
        self._clock = factory.reactor
        self.date_line = factory.date_cache.line
        self.server_line = factory.server_line
        self._parser: HttpRequestParser | None = None
        self._client_ip = ""
        self._client_port = 0
        self._server_port = 0
        self._tls_done = factory.scheme != "https"
        self._sni: str | None = None
        self._tls_version: str | None = None
        self._url = b""
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._header_size = 0
        self._raw_count = 0
        self._in_message = False
        self.current: Exchange | None = None  # the request being parsed (after its head)
        self._active: Exchange | None = None  # the request being answered
        self._queue: deque[Exchange] = deque()
        self._raw: list[bytes] = []
        self._in_feed = False
        self._dispatching = False
        self.closing = False
        self.lost = False
        self._pause_mask = 0
        self._timer: IDelayedCall | None = None
        self._deadline = 0.0
        self._timer_kind = 0
        self._pending_error: tuple[int, str] | None = None
        self._upgrade_buf: list[bytes] | None = None
        self._channel: RawChannel | None = None
        self._conn_state = CLOSED

    # -- Twisted -------------------------------------------------------------
    def connectionMade(self) -> None:
        transport = self.transport
        peer = transport.getPeer()  # type: ignore[union-attr]
        host = transport.getHost()  # type: ignore[union-attr]
        self._client_ip = getattr(peer, "host", "")
        self._client_port = getattr(peer, "port", 0)
        self._server_port = getattr(host, "port", 0)
        _no_delay(transport)
        self._conn_state = self._factory.stats.opened()
        self._parser = HttpRequestParser(self)
        self._arm(HEADER, self._factory.header_timeout)

    def dataReceived(self, data: bytes) -> None:
        if self._channel is not None:
            self._channel.data_received(data)
            return
        if self._parser is None or self.closing:
            if self._upgrade_buf is not None:
                self._upgrade_buf.append(data)
            return
        if (
            self._queue
            or self._raw
            or (self._active is not None and self.current is None and not self._in_message)
        ):
            # A response is in progress and this is the next request: keep it unparsed.
            self._raw.append(data)
            self.pause_reading(PAUSE_PIPELINE)
            return
        self._feed(data)

    def connectionLost(self, reason: Failure = _CONNECTION_LOST) -> None:
        self.lost = True
        self._conn_state = self._factory.stats.closed(self._conn_state)
        self.closing = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._channel is not None:
            self._channel.connection_lost()
            return
        active = self._active
        if active is not None and not active.done:
            active.fire_disconnect()
        for exchange in (self.current, *self._queue):
            if exchange is not None and exchange.body is not None and not exchange.discard:
                exchange.body.error(reason)
        self._queue.clear()
        self.current = None

    # -- dispatch ----------------------------------------------------------------------
    def _start(self, exchange: Exchange) -> None:
        self._active = exchange
        exchange.started = True
        try:
            result = self._handler(exchange.request, exchange)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - any handler bug becomes a 500
            self._handler_failed(Failure(), exchange)
            return
        if result is not None:
            result.addErrback(self._handler_failed, exchange)  # type: ignore[attr-defined]

    def _handler_failed(self, failure: Failure, exchange: Exchange) -> None:
        log.failure("request handler failed", failure)
        if exchange.done:
            return
        head_written = exchange.head_written
        exchange.fire_disconnect()
        if head_written:
            self.abort()
        else:
            self._write_error(500, _wire.UNEXPECTED)

    def response_finished(self, exchange: Exchange) -> None:
        """Called by the exchange's ``finish()``: go on with the next request, or close."""
        if self._active is exchange:
            self._active = None
        close = not exchange.keep_alive or self.closing
        body = exchange.body
        if body is not None and not exchange.message_complete:
            # The core is done with this request: whoever still reads its body stops here.
            body.error(Failure(RequestRejected(0, "response finished before the request body")))
        if not close and body is not None and not exchange.message_complete:
            if (
                body.length is not None
                and body.length - body.received <= DRAIN_LIMIT
                and not (exchange.expect_continue and not exchange.continue_sent)
            ):
                exchange.discard = True  # drain the rest and keep the connection
                self.resume_reading(PAUSE_BODY | PAUSE_WAIT)
            else:
                close = True
        if close:
            self._close()
            return
        self._next()

    def _next(self) -> None:
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while not self.closing and self._active is None:
                if self._queue:
                    self._start(self._queue.popleft())
                    continue
                if self._pending_error is not None:
                    self._send_pending_error()
                    return
                self.resume_reading(PAUSE_PIPELINE)
                if self._raw and not self._in_feed and self._parser is not None:
                    data = b"".join(self._raw)
                    self._raw.clear()
                    self._feed(data)
                    continue
                if self.current is None and not self._in_message and self._parser is not None:
                    self._arm(KEEPALIVE, self._factory.keepalive_timeout)
                self._track_idle()
                return
        finally:
            self._dispatching = False

    def _track_idle(self) -> None:
        """Nothing is being answered: the connection waits, or reads the next head."""
        if self.current is not None:
            state = WRITING
        else:
            state = READING if self._in_message else WAITING
        self._conn_state = self._factory.stats.move(self._conn_state, state)

    def switch_to_raw(self, exchange: Exchange) -> RawChannel:
        """Hand the connection over to a :class:`RawChannel` after a 101 response."""
        self._active = None
        self._timer_kind = 0
        buffered = self._upgrade_buf or []
        self._upgrade_buf = None
        channel = RawChannel(self.transport, buffered, closed=self.lost, held=True)
        self._channel = channel
        # The transport stays paused until the channel has a receiver.
        if not self._pause_mask and not self.lost:
            self.transport.pauseProducing()  # type: ignore[union-attr]
        self._pause_mask = 0
        return channel

    # -- flow control and closing ---------------------------------------------------------
    def pause_reading(self, reason: int) -> None:
        """Stop reading from the client for ``reason`` (a ``PAUSE_*`` bit)."""
        mask = self._pause_mask
        if not mask & reason:
            self._pause_mask = mask | reason
            if not mask and not self.closing:
                self.transport.pauseProducing()  # type: ignore[union-attr]

    def resume_reading(self, reasons: int) -> None:
        """Clear ``reasons``; read again when no reason is left."""
        mask = self._pause_mask
        if mask & reasons:
            mask &= ~reasons
            self._pause_mask = mask
            if not mask and not self.closing and self._channel is None:
                self.transport.resumeProducing()  # type: ignore[union-attr]

    def _close(self) -> None:
        if not self.closing:
            self.closing = True
            self._timer_kind = 0
            self.transport.loseConnection()  # type: ignore[union-attr]

    def abort(self) -> None:
        """Drop the connection at once (RST)."""
        if not self.lost:
            self.closing = True
            self._timer_kind = 0
            self.transport.abortConnection()  # type: ignore[union-attr]

    # -- timers: one DelayedCall per connection, moved lazily -----------------------------
    def _arm(self, kind: int, timeout: float) -> None:
        self._timer_kind = kind
        deadline = self._deadline = self._clock.seconds() + timeout
        timer = self._timer
        if timer is None:
            self._timer = self._clock.callLater(timeout, self._on_timer)
        elif timer.getTime() > deadline:
            timer.reset(timeout)

    def _on_timer(self) -> None:
        self._timer = None
        kind = self._timer_kind
        if not kind or self.lost:
            return
        now = self._clock.seconds()
        if now < self._deadline or (
            # Not the client's fault: we stopped reading (slow consumer, pipelining).
            self._pause_mask & (PAUSE_BODY | PAUSE_PIPELINE | PAUSE_WAIT)
        ):
            wait = self._deadline - now
            if wait <= 0:
                wait = self._factory.body_timeout if kind == BODY else self._factory.header_timeout
                self._deadline = now + wait
            self._timer = self._clock.callLater(wait, self._on_timer)
            return
        self._timer_kind = 0
        if kind == BODY and self.current is not None:
            exchange = self.current
            self.current = None
            self._parser = None
            self.pause_reading(PAUSE_ERROR)
            self._fail_exchange(exchange, 408, _wire.REQUEST_TIMEOUT)
        else:
            # Header or keep-alive timeout: nginx closes without a response.
            self._close()


def _no_delay(transport: object) -> None:
    """Turn Nagle's algorithm off: a response head and body written apart must not wait for
    the peer's delayed ACK (40 ms stalls on keep-alive connections)."""
    set_no_delay = getattr(transport, "setTcpNoDelay", None)
    if set_no_delay is not None:
        try:
            set_no_delay(True)
        except OSError:
            pass
