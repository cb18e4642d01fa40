"""One HTTP/1.1 connection to an upstream: send a request, parse the response.

What the connection is doing is one state machine (``state``; states and
transitions in :mod:`kongtx.http.client._state`). The response is parsed by the
parser :func:`kongtx.http.client._parsing.new_response_parser` builds, calling
back the ``on_*`` methods here. Callbacks only record state; the request
Deferred fires and the connection goes back to the pool after ``feed_data``
returns, so user code never runs inside the parser (except body bytes delivered
to an attached consumer). The pool is reached only through
:class:`ConnectionOwner`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol, cast

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IDelayedCall, IHandshakeListener, IPushProducer
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure
from zope.interface import implementer

from kongtx.http.body import Body, BufferedBody, StreamBody
from kongtx.http.client._parsing import (
    READ_SLACK,
    HeadTooLarge,
    ResponseParser,
    SkipBody,
    new_response_parser,
)
from kongtx.http.client._state import (
    AWAITING_RESPONSE,
    CLOSED,
    CONNECTING,
    IDLE,
    RECEIVING,
    UPGRADED,
)
from kongtx.http.client._streams import BodyWriter
from kongtx.http.client._types import (
    IUpstreamReactor,
    UpstreamClosed,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamResponse,
    UpstreamTimeout,
    serialize_head,
)
from kongtx.http.headers import Headers
from kongtx.http.parser import HttpParserCallbackError, HttpParserError, HttpParserUpgrade
from kongtx.http.raw_channel import RawChannel
from kongtx.http.tcp import no_delay
from kongtx.http.turn_writes import flusher_for, turn_writer

if TYPE_CHECKING:
    from kongtx.http.client._pool import PendingRequest


class ConnectionOwner(Protocol):
    """What an :class:`UpstreamConnection` needs from the pool that owns it.

    The whole interface between a connection and its pool: the connection tells
    the owner when it can serve another request, when it idled out and when it
    is gone, and asks it to connect afresh for a request to retry.
    """

    reactor: IUpstreamReactor
    idle_timeout: float
    max_requests: int
    max_head_size: int
    max_headers: int

    def connect(self, ex: PendingRequest) -> None:
        """Open a new connection for ``ex``."""

    def connection_reusable(self, conn: UpstreamConnection) -> None:
        """``conn`` finished its exchange and may serve another request."""

    def connection_idle_expired(self, conn: UpstreamConnection) -> None:
        """``conn`` stayed idle past ``idle_timeout``."""

    def connection_lost(self, conn: UpstreamConnection, state: int) -> None:
        """``conn`` is closed (``state``: what it was doing)."""


class Connecting(Protocol):
    """Who set the connection up (the pool's connector): told when it is usable or failed."""

    def ready(self, conn: UpstreamConnection) -> None:
        """``conn`` is connected (and its TLS handshake done)."""

    def handshake_failed(self, reason: Failure) -> None:
        """The connection was lost before it was usable."""


class UpstreamTransport(Protocol):
    """What the connection uses of its transport (``ITCPTransport``, ``IConsumer``, ``IPushProducer``)."""

    disconnecting: bool

    def write(self, data: bytes) -> None: ...

    def writeSequence(self, data: Iterable[bytes]) -> None: ...

    def registerProducer(self, producer: IPushProducer, streaming: bool) -> None: ...

    def unregisterProducer(self) -> None: ...

    def pauseProducing(self) -> None: ...

    def resumeProducing(self) -> None: ...

    def loseConnection(self) -> None: ...

    def abortConnection(self) -> None: ...


#: Buffered bodies up to this size go out in the same write as the head.
_COALESCE_LIMIT = 65536


def _ended_body() -> StreamBody:
    body = StreamBody(0)
    body.end()
    return body


@implementer(IHandshakeListener)
class UpstreamConnection(TwistedProtocol):
    """A pooled keep-alive connection; one exchange at a time (no pipelining)."""

    #: ``transport``, typed for what is used of it (set on ``connectionMade``).
    output: UpstreamTransport

    def __init__(self, owner: ConnectionOwner, key: tuple[object, ...], tls: bool) -> None:
        self._owner = owner
        self._reactor = owner.reactor
        self._max_head_size = owner.max_head_size
        self._max_headers = owner.max_headers
        self.key = key
        self._tls = tls
        self._parser: ResponseParser = new_response_parser(self)
        #: What the connection is doing (:mod:`kongtx.http.client._state`).
        self.state = CONNECTING
        #: Requests sent on this connection so far.
        self.requests = 0
        self.connector: Connecting | None = None
        #: Fired once the connection is lost (the pool waits on them when closing).
        self.closed_waiters: list[Deferred[None]] = []
        self._ex: PendingRequest | None = None
        #: One lazily re-armed timer serves the idle and read timeouts.
        self._timer: IDelayedCall | None = None
        self._idle_since = 0.0
        self._reading = False
        self._write_call: IDelayedCall | None = None
        self._writer: BodyWriter | None = None
        self._channel: RawChannel | None = None
        self._last_read = 0.0
        self._read_timeout = 0.0
        self._paused = False
        #: The whole request is out (its body included).
        self.request_done = False
        self._head = False
        # response state
        self._raw: list[tuple[bytes, bytes]] = []
        self._length: bytes | None = None
        self._te: bytes | None = None
        self._reason = b""
        #: Size of the response head's fields so far, and raw bytes read while in the head
        #: (an endless header line never reaches on_header).
        self._head_size = 0
        self._head_bytes = 0
        self._interim = False
        self._response: UpstreamResponse | None = None
        self._body: StreamBody | None = None
        self._message_done = False
        self._keep_alive = False
        self._until_close = False
        # bound once, handed to every response body
        self._pause_cb = self.pause_reading
        self._resume_cb = self.resume_reading
        self._stop_cb = self._stop_body

    # connection set-up ------------------------------------------------------
    def connectionMade(self) -> None:
        transport = self.output = cast(
            UpstreamTransport, turn_writer(self.transport, flusher_for(self._reactor))
        )
        no_delay(transport)  # request head and body go out in separate writes
        if not self._tls and self.connector is not None:
            self.connector.ready(self)

    def handshakeCompleted(self) -> None:
        if self.connector is not None:
            self.connector.ready(self)

    # sending ----------------------------------------------------------------
    def send(self, ex: PendingRequest) -> None:
        """Start an exchange on this (connected, idle) connection."""
        self.state = AWAITING_RESPONSE
        self._ex = ex
        ex.owner = self
        self._head_size = self._head_bytes = 0
        self.requests += 1
        ex.reused = self.requests > 1
        request = ex.request
        head, chunked = serialize_head(request, ex.address.host_header)
        self._head = request.method == "HEAD"
        self._read_timeout = ex.read_timeout
        self._reading = False
        transport = self.output
        body = request.body
        if body is None or (type(body) is BufferedBody and body.length <= _COALESCE_LIMIT):
            transport.write(head + body.data if body is not None else head)
            ex.request_sent = True
            self.request_written()
            return
        self.request_done = False
        writer = self._writer = BodyWriter(self, body, chunked)
        transport.registerProducer(writer, True)
        transport.write(head)
        ex.request_sent = True
        body.start(writer)

    def request_written(self) -> None:
        """The whole request is out: from now a silence of ``read_timeout`` fails the exchange."""
        self.request_done = True
        state = self.state
        if not self._reading and (state is AWAITING_RESPONSE or state is RECEIVING):
            self._start_reading(self._reactor.seconds())

    def _start_reading(self, now: float) -> None:
        # From here until the end of the exchange, a silence of read_timeout fails it.
        self._reading = True
        self._last_read = now
        self._arm(now, now + self._read_timeout)

    def _arm(self, now: float, deadline: float) -> None:
        """Make sure the timer fires no later than ``deadline`` (usually it already does)."""
        call = self._timer
        if call is None:
            self._timer = self._reactor.callLater(deadline - now, self._on_timer)
        elif call.getTime() > deadline:
            call.reset(deadline - now)

    def idle(self, now: float) -> None:
        """The connection went back to the pool at ``now``."""
        self._idle_since = now
        self._arm(now, now + self._owner.idle_timeout)

    def _on_timer(self) -> None:
        # Fires at the earliest deadline it was armed for; deadlines move
        # later without touching it, so re-check and re-arm for what is left.
        self._timer = None
        state = self.state
        now = self._reactor.seconds()
        if state is IDLE:
            left = self._idle_since + self._owner.idle_timeout - now
            if left <= 0:
                self._owner.connection_idle_expired(self)
                return
        elif (
            state is AWAITING_RESPONSE or state is RECEIVING or state is UPGRADED
        ) and self._reading:
            if self._paused:
                left = self._read_timeout
            else:
                left = self._last_read + self._read_timeout - now
                if left <= 0:
                    if state is UPGRADED:
                        self.state = CLOSED
                        self.output.abortConnection()
                    else:
                        self._fail(UpstreamTimeout("read"))
                    return
        else:
            return
        self._timer = self._reactor.callLater(left, self._on_timer)

    def request_failed(self, exc: BaseException) -> None:
        """The request body broke (or did not match its length): fail the exchange."""
        state = self.state
        if state is AWAITING_RESPONSE or state is RECEIVING:
            self._fail(exc)

    def write_blocked(self) -> None:
        """The upstream's socket buffer is full: the write timeout starts."""
        ex = self._ex
        if self._write_call is None and ex is not None:
            self._write_call = self._reactor.callLater(ex.write_timeout, self._write_expired)

    def write_unblocked(self) -> None:
        """The upstream reads again: the write timeout stops."""
        call = self._write_call
        if call is not None:
            self._write_call = None
            call.cancel()

    def _write_expired(self) -> None:
        self._write_call = None
        state = self.state
        if state is AWAITING_RESPONSE or state is RECEIVING:
            self._fail(UpstreamTimeout("write"))

    # response body flow control -----------------------------------------------
    def pause_reading(self) -> None:
        """Stop reading from the upstream socket (back-pressure)."""
        if not self._paused:
            self._paused = True
            self.output.pauseProducing()

    def resume_reading(self) -> None:
        """Read from the upstream socket again."""
        if self._paused:
            self._paused = False
            self._last_read = self._reactor.seconds()
            self.output.resumeProducing()

    def _stop_body(self) -> None:
        # The consumer gave up on the body: drop the connection, quietly.
        self._body = None
        state = self.state
        if state is AWAITING_RESPONSE or state is RECEIVING:
            self.abort()

    # receiving ----------------------------------------------------------------
    def dataReceived(self, data: bytes) -> None:
        state = self.state
        if state is not AWAITING_RESPONSE and state is not RECEIVING:
            if state is UPGRADED:
                self._last_read = self._reactor.seconds()
                channel = self._channel
                if channel is not None:
                    channel.data_received(data)
            elif state is not CLOSED:
                # Bytes nobody asked for (idle, or before the handshake): not HTTP we can trust.
                self.abort()
            return
        ex = self._ex
        assert ex is not None  # an exchange is in flight
        ex.received = True
        now = self._last_read = self._reactor.seconds()
        if state is AWAITING_RESPONSE:
            # llhttp keeps an unfinished header line to itself: bound what it may hold.
            self._head_bytes += len(data)
            if self._head_bytes > self._max_head_size + READ_SLACK:
                self._protocol_error(HeadTooLarge("upstream sent too big header"))
                return
        try:
            self._parser.feed_data(data)
        except HttpParserUpgrade as exc:
            self._upgrade(data[exc.args[0] :])
            return
        except HttpParserCallbackError as exc:
            if isinstance(exc.__context__, SkipBody):
                self._parser = new_response_parser(self)
            else:
                self._protocol_error(exc.__context__ or exc)
                return
        except HttpParserError as exc:
            self._protocol_error(exc)
            return
        response = self._response
        if response is not None:
            self._response = None
            if not self._reading and self.state is RECEIVING:
                self._start_reading(now)
            deferred = ex.deferred
            if not deferred.called:
                deferred.callback(response)
            if self._ex is not ex:
                return
        if self._message_done and self.state is RECEIVING:
            self._finish_exchange()

    # parser callbacks (httptools) -----------------------------------------------
    def on_message_begin(self) -> None:
        if self._message_done:
            # Bytes after the response we asked for: the connection cannot be trusted.
            self._keep_alive = False

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        raw = self._raw
        size = self._head_size = self._head_size + len(name) + len(value) + 4
        if size > self._max_head_size or len(raw) >= self._max_headers:
            raise HeadTooLarge("upstream sent too big header")
        raw.append((name, value))
        # Note the framing fields on the way (cheaper than a lookup afterwards).
        size = len(name)
        if size == 14:
            if name.lower() == b"content-length":
                self._length = value
        elif size == 17 and name.lower() == b"transfer-encoding":
            self._te = value

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        raw = self._raw
        reason = self._reason.decode("latin-1")
        self._reason = b""
        length_value = self._length
        te = self._te
        self._length = self._te = None
        if status < 200 and status != 101:
            self._interim = True
            raw.clear()
            return
        headers = Headers.from_raw(raw)
        raw.clear()
        version = parser.get_http_version()
        if status == 101:
            # The state moves to UPGRADED when llhttp stops at the upgrade (dataReceived).
            self._channel = RawChannel(
                self.output, pause_reading=self.pause_reading, resume_reading=self.resume_reading
            )
            self._response = UpstreamResponse(
                status, reason, headers, version, _ended_body(), self._channel
            )
            return
        if self.state is AWAITING_RESPONSE:
            self.state = RECEIVING
        self._keep_alive = parser.should_keep_alive()
        self._until_close = False
        if self._head or status == 204 or status == 304:
            body = self._body = StreamBody(0)
            self._response = UpstreamResponse(status, reason, headers, version, body)
            if self._head:
                # llhttp cannot be told the request was HEAD: stop it here.
                self._message_done = True
                raise SkipBody()
            return
        if length_value is None:
            length = None
            self._until_close = te is None or not te.rstrip().lower().endswith(b"chunked")
        else:
            length = int(length_value)
        body = self._body = StreamBody(length, self._pause_cb, self._resume_cb, self._stop_cb)
        self._response = UpstreamResponse(status, reason, headers, version, body)

    def on_body(self, data: bytes) -> None:
        body = self._body
        if body is not None and self.state is RECEIVING:
            body.feed(data)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
        elif self._channel is None:
            self._message_done = True

    # end of an exchange ------------------------------------------------------------
    def _protocol_error(self, exc: BaseException) -> None:
        state = self.state
        if state is AWAITING_RESPONSE or state is RECEIVING:
            self._fail(UpstreamProtocolError(f"invalid response from upstream: {exc}"))

    def _upgrade(self, rest: bytes) -> None:
        ex = self._ex
        response = self._response
        channel = self._channel
        if ex is None or response is None or channel is None:
            # An Upgrade header on a non-101 response: llhttp stops at it.
            self._protocol_error(HttpParserError("unexpected protocol upgrade"))
            return
        self._ex = None
        self._response = None
        self._body = None
        ex.owner = None
        self._release_writer()
        self._cancel_write_timer()
        self.state = UPGRADED
        if rest:
            channel.data_received(rest)
        if not self._reading:
            self._start_reading(self._reactor.seconds())
        if not ex.deferred.called:
            ex.deferred.callback(response)

    def _finish_exchange(self) -> None:
        body = self._body
        ex = self._ex
        self._ex = None
        self._body = None
        self._message_done = False
        if ex is not None:
            ex.owner = None
        self._reading = False
        if self._write_call is not None:
            self._cancel_write_timer()
        if self._writer is not None:
            self._release_writer()
        if self._paused:
            self._paused = False
            self.output.resumeProducing()
        if self._keep_alive and self.request_done and self.requests < self._owner.max_requests:
            self.state = IDLE
            self._owner.connection_reusable(self)
        else:
            self.state = CLOSED
            self.output.loseConnection()
        if body is not None:
            body.end()

    # failure and teardown -------------------------------------------------------
    def _release_writer(self) -> None:
        writer = self._writer
        if writer is not None:
            self._writer = None
            writer.active = False
            self.output.unregisterProducer()

    def _cancel_write_timer(self) -> None:
        call = self._write_call
        if call is not None:
            self._write_call = None
            call.cancel()

    def _cancel_timers(self) -> None:
        call = self._timer
        if call is not None:
            self._timer = None
            call.cancel()
        call = self._write_call
        if call is not None:
            self._write_call = None
            call.cancel()

    def abort(self) -> None:
        """Drop the connection at once, reporting nothing (whoever waits is told elsewhere)."""
        self.state = CLOSED
        self._ex = None
        self._message_done = False
        self._cancel_timers()
        if self._writer is not None:
            self._writer.active = False
            self._writer = None
        self.output.abortConnection()

    def _fail(self, exc: BaseException) -> None:
        """Abort the connection and report ``exc`` to whoever waits on the exchange."""
        ex = self._ex
        body = self._body
        self._body = None
        self.abort()
        if ex is None:
            return
        ex.owner = None
        if isinstance(exc, UpstreamError):
            exc.request_sent = ex.request_sent
            exc.received = ex.received
        deferred = ex.deferred
        if not deferred.called:
            deferred.errback(exc)
        elif body is not None:
            body.error(Failure(exc))

    def cancel_exchange(self, ex: PendingRequest) -> None:
        """The request Deferred was cancelled: abort the connection."""
        state = self.state
        if self._ex is ex and (state is AWAITING_RESPONSE or state is RECEIVING):
            body = self._body
            self._body = None
            self.abort()
            if body is not None:
                body.error(Failure(UpstreamClosed("request cancelled")))

    def shutdown(self) -> None:
        """Abort the connection, failing a request in flight (the pool is closing)."""
        state = self.state
        if state is AWAITING_RESPONSE or state is RECEIVING:
            self._fail(UpstreamClosed("upstream connection pool closed"))
        elif state is UPGRADED:
            self.output.abortConnection()  # connectionLost tells the channel
        else:
            self.state = CLOSED
            self.output.abortConnection()

    def close_idle(self) -> None:
        """Close an idle connection (idle timeout, pool full, pool closing)."""
        self.state = CLOSED
        self.output.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        state = self.state
        self.state = CLOSED
        self._cancel_timers()
        self._owner.connection_lost(self, state)
        for waiter in self.closed_waiters:
            waiter.callback(None)
        if state is AWAITING_RESPONSE or state is RECEIVING:
            self._lost_active(reason)
        elif state is UPGRADED:
            channel = self._channel
            if channel is not None:
                channel.connection_lost()
        elif state is CONNECTING and self.connector is not None:
            self.connector.handshake_failed(reason)

    def _lost_active(self, reason: Failure) -> None:
        ex = self._ex
        body = self._body
        self._ex = None
        self._body = None
        if self._writer is not None:
            self._writer.active = False
            self._writer = None
        if ex is None:
            return
        ex.owner = None
        if not ex.deferred.called:
            if ex.reused and not ex.received and not ex.retried and _replayable(ex.request.body):
                # A kept-alive connection the upstream had closed: nothing reached
                # the upstream application, so send again on a fresh connection.
                ex.retried = True
                self._owner.connect(ex)
                return
            ex.deferred.errback(
                UpstreamClosed(
                    "upstream prematurely closed connection while reading response header",
                    request_sent=ex.request_sent,
                    received=ex.received,
                )
            )
        elif body is not None:
            if self._until_close and reason.check(ConnectionDone):
                body.end()
            else:
                body.error(
                    Failure(
                        UpstreamClosed(
                            "upstream prematurely closed connection while reading response body",
                            request_sent=True,
                            received=True,
                        )
                    )
                )


def _replayable(body: Body | None) -> bool:
    return body is None or type(body) is BufferedBody
