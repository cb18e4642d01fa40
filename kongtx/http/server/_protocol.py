"""The native HTTP/1.1 server connection: parsing, keep-alive, pipelining, flow control, timers.

What the connection does with the bytes it reads is one state machine
(``state``; states and transitions in :mod:`kongtx.http.server._state`). The
framing and keep-alive decisions are sans-IO functions in
:mod:`kongtx.http.server._framing`; the parser is built by
:func:`kongtx.http.server._parsing.new_request_parser` and calls back the
``on_*`` methods here. Each request is answered by an
:class:`~kongtx.http.server._exchange.Exchange`, which reaches the connection
only through its public :class:`~kongtx.http.server._exchange.ExchangeOwner` side.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast
from typing import Protocol as TypingProtocol

from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from kongtx.http.connstats import CLOSED as STATS_CLOSED
from kongtx.http.connstats import READING, WAITING, WRITING
from kongtx.http.gateway_io import GatewayRequest, ResponseWriter
from kongtx.http.headers import Headers
from kongtx.http.parser import HttpParserCallbackError, HttpParserError, HttpParserUpgrade
from kongtx.http.raw_channel import RawChannel
from kongtx.http.server import _wire
from kongtx.http.server._exchange import ClientTransport, Exchange, RequestBody
from kongtx.http.server._framing import (
    CLOSE,
    NEXT,
    Reject,
    after_response,
    check_head,
    unfinished_head_error,
)
from kongtx.http.server._parsing import (
    METHOD_NAMES,
    WAIT_BUFFER,
    RequestParser,
    RequestRejected,
    new_request_parser,
)
from kongtx.http.server._state import (
    BODY_TIMEOUT,
    CLOSED,
    CLOSING,
    FAILED,
    HEADER_TIMEOUT,
    IDLE,
    KEEPALIVE_TIMEOUT,
    NO_TIMEOUT,
    PAUSE_BODY,
    PAUSE_ERROR,
    PAUSE_PIPELINE,
    PAUSE_UPGRADE,
    PAUSE_WAIT,
    READING_BODY,
    READING_HEAD,
    RESPONDING,
    UPGRADED,
    UPGRADING,
)
from kongtx.http.tcp import no_delay
from kongtx.http.turn_writes import turn_writer

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

    from kongtx.http.server._factory import HTTPServerFactory

log = Logger()

#: ``handler(request, writer)``: answers through the writer; may return a Deferred
#: (its failure becomes a 500, or drops the connection once the head is out).
RequestHandler = Callable[[GatewayRequest, ResponseWriter], "Deferred[Any] | None"]

_CONNECTION_LOST = Failure(ConnectionLost())


class ServerTransport(ClientTransport, TypingProtocol):
    """What the connection uses of its transport (``ITCPTransport``, ``IPushProducer``)."""

    def getPeer(self) -> IAddress: ...

    def getHost(self) -> IAddress: ...

    def pauseProducing(self) -> None: ...

    def resumeProducing(self) -> None: ...

    def loseConnection(self) -> None: ...

    def abortConnection(self) -> None: ...


class HTTPServerProtocol(Protocol):
    """One client connection. Built by :class:`HTTPServerFactory`."""

    #: ``transport``, typed for what is used of it (set on ``connectionMade``).
    output: ServerTransport

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
        "current",
        "date_line",
        "output",
        "server_line",
        "state",
    )

    def __init__(self, factory: HTTPServerFactory) -> None:
        self._factory = factory
        self._handler = factory.handler
        self._clock: IReactorTime = factory.reactor
        self.date_line: Callable[[], str] = factory.date_cache.line
        self.server_line: str = factory.server_line
        #: What the connection does with the bytes it reads (:mod:`._state`).
        self.state = IDLE
        self._parser: RequestParser | None = None
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
        self.current: Exchange | None = None  # the request whose body is being read
        self._active: Exchange | None = None  # the request being answered
        self._queue: deque[Exchange] = deque()  # parsed requests waiting for their turn
        self._raw: list[bytes] = []  # bytes of the next requests, held while RESPONDING
        self._in_feed = False
        self._dispatching = False
        self._pause_mask = 0
        self._timer: IDelayedCall | None = None
        self._deadline = 0.0
        self._timer_kind = NO_TIMEOUT
        self._pending_error: tuple[int, str] | None = None
        self._upgrade_buf: list[bytes] = []  # read after an upgrade request (UPGRADING)
        self._channel: RawChannel | None = None
        self._conn_state = STATS_CLOSED

    @property
    def closing(self) -> bool:
        """The connection is closing or closed: nothing more is read or dispatched."""
        return self.state >= CLOSING

    @property
    def lost(self) -> bool:
        """The connection is gone."""
        return self.state is CLOSED

    # -- Twisted -------------------------------------------------------------
    def connectionMade(self) -> None:
        transport = self.output = cast(
            ServerTransport, turn_writer(self.transport, self._factory.flusher)
        )
        peer = transport.getPeer()
        host = transport.getHost()
        self._client_ip = getattr(peer, "host", "")
        self._client_port = getattr(peer, "port", 0)
        self._server_port = getattr(host, "port", 0)
        no_delay(transport)
        self._conn_state = self._factory.stats.opened()
        self._parser = new_request_parser(self)
        self._arm(HEADER_TIMEOUT, self._factory.header_timeout)

    def dataReceived(self, data: bytes) -> None:
        state = self.state
        if state > RESPONDING:
            if state is UPGRADED:
                channel = self._channel
                if channel is not None:
                    channel.data_received(data)
            elif state is UPGRADING:
                self._upgrade_buf.append(data)
            return  # FAILED, CLOSING, CLOSED: nothing more is read
        if state is RESPONDING or self._queue or self._raw:
            # A response is in progress and this is the next request: keep it unparsed.
            self._raw.append(data)
            self.pause_reading(PAUSE_PIPELINE)
            return
        self._feed(data)

    def connectionLost(self, reason: Failure = _CONNECTION_LOST) -> None:
        self.state = CLOSED
        self._conn_state = self._factory.stats.closed(self._conn_state)
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

    # -- parser callbacks ------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.state < CLOSING:
            self.state = READING_HEAD
        self._conn_state = self._factory.stats.request_begins(self._conn_state)
        self._url = b""
        self._raw_headers = []
        self._header_size = 0
        self._raw_count = 0
        if self._timer_kind != HEADER_TIMEOUT:
            self._arm(HEADER_TIMEOUT, self._factory.header_timeout)

    def on_url(self, url: bytes) -> None:
        url = self._url + url if self._url else url
        if len(url) > self._factory.max_header_size:
            raise Reject(414, _wire.URI_TOO_LONG)
        self._url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.current is not None:
            return  # a chunked trailer: ignored, as nginx does
        raw = self._raw_headers
        raw.append((name, value))
        self._header_size += len(name) + len(value) + 4
        factory = self._factory
        if len(raw) > factory.max_headers or self._header_size > factory.max_header_size:
            raise Reject(400, _wire.HEADER_TOO_LARGE)

    def on_headers_complete(self) -> None:
        factory = self._factory
        parser = self._parser
        assert parser is not None
        raw = self._raw_headers
        if len(self._url) + self._header_size > factory.max_header_size:
            raise Reject(400, _wire.HEADER_TOO_LARGE)
        version = parser.get_http_version()
        method_b = parser.get_method()
        method = METHOD_NAMES.get(method_b)
        if method is None:
            method = METHOD_NAMES.setdefault(method_b, method_b.decode("latin-1"))
        upgrade = parser.should_upgrade()
        length, chunked, expect = check_head(raw, version, upgrade, method, factory.max_body_size)
        has_body = chunked or bool(length)
        if chunked:
            # RFC 9112 §7.1.2: a Content-Length in the trailer section is dropped, not a
            # framing error (llhttp would see it next to Transfer-Encoding).
            parser.set_dangerous_leniencies(lenient_chunked_length=True)

        exchange = Exchange(self, parser.should_keep_alive(), expect, upgrade)
        body = RequestBody(length, exchange) if has_body else None
        exchange.body = body
        if not self._tls_done:
            self._read_tls()
        request = GatewayRequest(
            method,
            self._url.decode("latin-1"),
            version,
            Headers.from_raw(raw),
            factory.scheme,
            self._client_ip,
            self._client_port,
            self._server_port,
            self._sni,
            body,
            self._tls_version,
            exchange.keep_alive,
        )
        exchange.request = request
        self.current = exchange
        if self.state < CLOSING:
            self.state = READING_BODY
        self._conn_state = factory.stats.move(self._conn_state, WRITING)
        if body is not None:
            self._arm(BODY_TIMEOUT, factory.body_timeout)
        else:
            self._timer_kind = NO_TIMEOUT
        if factory.on_request_start is not None:
            factory.on_request_start(request)
        # The handler is called once this read has been parsed (see _next), so that a
        # request whose body is already known to be broken never reaches it.
        queue = self._queue
        if queue or self._active is not None:
            self.pause_reading(PAUSE_PIPELINE)
        queue.append(exchange)

    def on_body(self, data: bytes) -> None:
        exchange = self.current
        if exchange is None or exchange.discard:
            return
        body = exchange.body
        assert body is not None
        factory = self._factory
        if factory.max_body_size and body.received + len(data) > factory.max_body_size:
            raise Reject(413, _wire.PAYLOAD_TOO_LARGE)
        body.feed(data)
        if body.on_start is not None and body.buffered_size > WAIT_BUFFER:
            self.pause_reading(PAUSE_WAIT)
        if self._timer_kind == BODY_TIMEOUT:
            self._deadline = self._clock.seconds() + factory.body_timeout

    def on_message_complete(self) -> None:
        exchange = self.current
        self.current = None
        idle = self._active is None and not self._queue
        if self.state < CLOSING:
            self.state = IDLE if idle else RESPONDING
        if exchange is None:
            return
        exchange.message_complete = True
        self._timer_kind = NO_TIMEOUT
        if exchange.body is not None:
            parser = self._parser
            if exchange.body.length is None and parser is not None:
                parser.set_dangerous_leniencies(lenient_chunked_length=False)
            self.resume_reading(PAUSE_BODY | PAUSE_WAIT)
            if not exchange.discard:
                exchange.body.end()
        if exchange.done and self._active is None and not self._queue:
            self._arm(KEEPALIVE_TIMEOUT, self._factory.keepalive_timeout)
            self._conn_state = self._factory.stats.move(self._conn_state, WAITING)

    # -- parsing ---------------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        parser = self._parser
        assert parser is not None
        self._in_feed = True
        try:
            parser.feed_data(data)
        except HttpParserUpgrade as exc:
            self._parser = None
            if self.state < CLOSING:
                self.state = UPGRADING
            offset = exc.args[0]
            self._upgrade_buf = [data[offset:]] if offset < len(data) else []
            self.pause_reading(PAUSE_UPGRADE)
        except HttpParserCallbackError as exc:
            reject = exc.__context__
            if isinstance(reject, Reject):
                self._parse_failed(reject.status, reject.message)
            else:
                log.failure("server parser callback failed", Failure(reject or exc))
                self._parse_failed(400, _wire.BAD_REQUEST)
        except HttpParserError:
            self._parse_failed(400, _wire.BAD_REQUEST)
        else:
            if self.state is READING_HEAD:
                self._raw_count += len(data)
                error = unfinished_head_error(
                    self._raw_count,
                    self._factory.max_header_size,
                    data,
                    bool(self._url),
                    parser.get_http_version(),
                )
                if error is not None:
                    self._parse_failed(400, error)
        finally:
            self._in_feed = False
        self._next()

    def _parse_failed(self, status: int, message: str) -> None:
        self._parser = None
        if self.state < CLOSING:
            self.state = FAILED
        self._raw.clear()
        self.pause_reading(PAUSE_ERROR)
        exchange = self.current
        self.current = None
        if exchange is not None:
            # The head was fine, the body broke (bad chunk, too large).
            self._fail_exchange(exchange, status, message)
            return
        self._pending_error = (status, message)
        if self._active is None and not self._queue:
            self._send_pending_error()

    def _fail_exchange(self, exchange: Exchange, status: int, message: str) -> None:
        """The request ``exchange`` broke while its body was arriving: answer ``status`` or drop."""
        body = exchange.body
        if exchange.started:
            if exchange.done:
                self.close()
                return
            head_written = exchange.head_written
            exchange.fire_disconnect()
            if body is not None and not exchange.discard:
                body.error(Failure(RequestRejected(status, message)))
            if head_written:
                self.abort()
            else:
                self._write_error(status, message)
            return
        # Never handed to the core: answer after the requests before it.
        try:
            self._queue.remove(exchange)
        except ValueError:
            pass
        if body is not None:
            body.error(Failure(RequestRejected(status, message)))
        self._pending_error = (status, message)
        if self._active is None and not self._queue:
            self._send_pending_error()

    def _send_pending_error(self) -> None:
        assert self._pending_error is not None
        status, message = self._pending_error
        self._pending_error = None
        self._write_error(status, message)

    def _write_error(self, status: int, message: str) -> None:
        if self.state is CLOSED:
            return
        self.output.write(_wire.error_response(status, message, self.date_line(), self.server_line))
        self.close()

    def _read_tls(self) -> None:
        self._tls_done = True
        try:
            handle = self.transport.getHandle()  # type: ignore[union-attr]  # TLS transports only
            name = handle.get_servername()
            self._sni = name.decode("ascii", "replace") if name else None
            self._tls_version = handle.get_protocol_version_name()
        except Exception:  # noqa: BLE001 - not a pyOpenSSL transport
            log.failure("cannot read TLS details of the connection")

    # -- dispatch ----------------------------------------------------------------------
    def _start(self, exchange: Exchange) -> None:
        self._active = exchange
        exchange.started = True
        try:
            result = self._handler(exchange.request, exchange)
        except Exception:  # noqa: BLE001 - any handler bug becomes a 500
            self._handler_failed(Failure(), exchange)
            return
        if result is not None:
            result.addErrback(self._handler_failed, exchange)

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
        """Called by the exchange's ``finish()``: go on with the next request, drain, or close."""
        if self._active is exchange:
            self._active = None
        keep_alive = exchange.keep_alive
        closing = self.state >= CLOSING
        body = exchange.body
        if body is None or exchange.message_complete:
            then = after_response(keep_alive, closing, False, None, False)
        else:
            # The core is done with this request: whoever still reads its body stops here.
            body.error(Failure(RequestRejected(0, "response finished before the request body")))
            then = after_response(
                keep_alive,
                closing,
                True,
                None if body.length is None else body.length - body.received,
                exchange.expect_continue and not exchange.continue_sent,
            )
        if then is CLOSE:
            self.close()
            return
        if then is not NEXT:  # DRAIN: read the rest of the body and keep the connection
            exchange.discard = True
            self.resume_reading(PAUSE_BODY | PAUSE_WAIT)
        self._next()

    def _next(self) -> None:
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self.state < CLOSING and self._active is None:
                if self._queue:
                    self._start(self._queue.popleft())
                    continue
                if self._pending_error is not None:
                    self._send_pending_error()
                    return
                if self._pause_mask & PAUSE_PIPELINE:
                    self.resume_reading(PAUSE_PIPELINE)
                state = self.state
                if self._raw and not self._in_feed and state <= RESPONDING:
                    data = b"".join(self._raw)
                    self._raw.clear()
                    self._feed(data)
                    continue
                if state is RESPONDING:
                    state = self.state = IDLE  # the answers are out: wait for the next request
                if state is IDLE:
                    self._arm(KEEPALIVE_TIMEOUT, self._factory.keepalive_timeout)
                self._track_idle()
                return
        finally:
            self._dispatching = False

    def _track_idle(self) -> None:
        """Nothing is being answered: the connection waits, or reads the next head."""
        if self.current is not None:
            stats_state = WRITING
        else:
            stats_state = READING if self.state is READING_HEAD else WAITING
        self._conn_state = self._factory.stats.move(self._conn_state, stats_state)

    def switch_to_raw(self, exchange: Exchange) -> RawChannel:
        """Hand the connection over to a :class:`RawChannel` after a 101 response."""
        self._active = None
        self._timer_kind = NO_TIMEOUT
        buffered = self._upgrade_buf
        self._upgrade_buf = []
        lost = self.state is CLOSED
        channel = RawChannel(self.output, buffered, closed=lost, held=True)
        self._channel = channel
        if self.state < CLOSING:
            self.state = UPGRADED
        # The transport stays paused until the channel has a receiver.
        if not self._pause_mask and not lost:
            self.output.pauseProducing()
        self._pause_mask = 0
        return channel

    # -- flow control and closing ---------------------------------------------------------
    def pause_reading(self, reason: int) -> None:
        """Stop reading from the client for ``reason`` (a ``PAUSE_*`` bit)."""
        mask = self._pause_mask
        if not mask & reason:
            self._pause_mask = mask | reason
            if not mask and self.state < CLOSING:
                self.output.pauseProducing()

    def resume_reading(self, reasons: int) -> None:
        """Clear ``reasons``; read again when no reason is left."""
        mask = self._pause_mask
        if mask & reasons:
            mask &= ~reasons
            self._pause_mask = mask
            if not mask and self.state < CLOSING and self._channel is None:
                self.output.resumeProducing()

    def close(self) -> None:
        """Close the connection once what was written is sent."""
        if self.state < CLOSING:
            self.state = CLOSING
            self._timer_kind = NO_TIMEOUT
            self.output.loseConnection()

    def abort(self) -> None:
        """Drop the connection at once (RST)."""
        if self.state is not CLOSED:
            self.state = CLOSING
            self._timer_kind = NO_TIMEOUT
            self.output.abortConnection()

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
        if not kind or self.state is CLOSED:
            return
        now = self._clock.seconds()
        if now < self._deadline or (
            # Not the client's fault: we stopped reading (slow consumer, pipelining).
            self._pause_mask & (PAUSE_BODY | PAUSE_PIPELINE | PAUSE_WAIT)
        ):
            wait = self._deadline - now
            if wait <= 0:
                factory = self._factory
                wait = factory.body_timeout if kind == BODY_TIMEOUT else factory.header_timeout
                self._deadline = now + wait
            self._timer = self._clock.callLater(wait, self._on_timer)
            return
        self._timer_kind = NO_TIMEOUT
        if kind == BODY_TIMEOUT and self.current is not None:
            exchange = self.current
            self.current = None
            self._parser = None
            self.state = FAILED
            self.pause_reading(PAUSE_ERROR)
            self._fail_exchange(exchange, 408, _wire.REQUEST_TIMEOUT)
        else:
            # Header or keep-alive timeout: nginx closes without a response.
            self.close()
