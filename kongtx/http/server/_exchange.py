"""One request on a server connection: the ResponseWriter answering it and its request body.

An :class:`Exchange` talks to its connection only through :class:`ExchangeOwner`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger

from kongtx.http.body import BodyConsumer, StreamBody
from kongtx.http.gateway_io import GatewayRequest
from kongtx.http.headers import Headers
from kongtx.http.raw_channel import RawChannel
from kongtx.http.server._framing import (
    CHUNKED,
    LENGTH,
    NO_BODY,
    UNTIL_CLOSE,
    body_framed,
    connection_header,
    keeps_alive,
    response_body_mode,
)
from kongtx.http.server._state import PAUSE_BODY, PAUSE_WAIT
from kongtx.http.server._wire import CHUNKED_END, CONTINUE, CRLF, status_line

log = Logger()

# The response fields write_head looks at, by lower-case name.
_LENGTH, _TE, _CONNECTION, _DATE, _SERVER = "length", "te", "connection", "date", "server"
_SPECIAL = {
    "content-length": _LENGTH,
    "transfer-encoding": _TE,
    "connection": _CONNECTION,
    "date": _DATE,
    "server": _SERVER,
}


class ClientTransport(Protocol):
    """What an exchange writes to: the client connection's transport (``ITransport``
    and ``IConsumer``)."""

    def write(self, data: bytes) -> None: ...

    def writeSequence(self, data: Iterable[bytes]) -> None: ...

    def registerProducer(self, producer: IPushProducer, streaming: bool) -> None: ...

    def unregisterProducer(self) -> None: ...


class ExchangeOwner(Protocol):
    """What an :class:`Exchange` needs from its connection (``HTTPServerProtocol``).

    The exchange writes its bytes to ``output`` itself (the hot path); what it
    decides about the connection goes through these methods.
    """

    @property
    def output(self) -> ClientTransport:
        """The client connection's transport."""

    #: Returns the ``Date:`` header line for the current second.
    date_line: Callable[[], str]
    #: The ``Server:`` header line added when the core sets none (``""``: none).
    server_line: str
    #: The exchange whose request body is being read (``None``: none).
    current: Exchange | None

    @property
    def closing(self) -> bool:
        """The connection is closing (or closed): no further request will be read."""

    @property
    def lost(self) -> bool:
        """The connection is gone."""

    def response_finished(self, exchange: Exchange) -> None:
        """``exchange`` ended its response: go on with the next request, drain, or close."""

    def pause_reading(self, reason: int) -> None:
        """Stop reading from the client for ``reason`` (a ``PAUSE_*`` bit)."""

    def resume_reading(self, reasons: int) -> None:
        """Clear ``reasons``; read again when none is left."""

    def close(self) -> None:
        """Close the connection after what was written."""

    def abort(self) -> None:
        """Drop the connection at once."""

    def switch_to_raw(self, exchange: Exchange) -> RawChannel:
        """Hand the connection over to a raw channel (after ``101``)."""


class RequestBody(StreamBody):
    """A request body that tells the connection when the core starts reading it."""

    __slots__ = ("on_start",)

    def __init__(self, length: int | None, exchange: Exchange) -> None:
        super().__init__(length, exchange.pause_body, exchange.resume_body, exchange.stop_body)
        self.on_start: Callable[[], None] | None = exchange.body_started

    def start(self, consumer: BodyConsumer) -> None:
        """Attach the consumer; the first call also sends ``100 Continue`` if the client waits for it."""
        callback = self.on_start
        if callback is not None:
            self.on_start = None
            callback()
        super().start(consumer)


class Exchange:
    """One request on a connection and the :class:`~kongtx.http.gateway_io.ResponseWriter` answering it."""

    request: GatewayRequest

    __slots__ = (
        "_callbacks",
        "_gone",
        "_mode",
        "_out_left",
        "_producer",
        "_proto",
        "body",
        "continue_sent",
        "discard",
        "done",
        "expect_continue",
        "head_written",
        "is_upgrade",
        "keep_alive",
        "message_complete",
        "request",
        "started",
        "status",
    )

    def __init__(
        self,
        proto: ExchangeOwner,
        keep_alive: bool,
        expect_continue: bool,
        is_upgrade: bool,
    ) -> None:
        self._proto = proto
        # ``request`` is set by the connection right after (the request holds the body,
        # whose callbacks are this exchange's).
        self.body: RequestBody | None = None
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.continue_sent = False
        self.is_upgrade = is_upgrade
        self.started = False  # the handler was called
        self.head_written = False
        self.done = False  # finished, aborted, taken over or client gone
        self.message_complete = False  # the whole request (incl. body) was parsed
        self.discard = False  # drop further request body bytes
        self.status = 0
        self._mode = NO_BODY
        self._out_left = -1
        self._callbacks: list[Callable[[], None]] | None = None
        self._producer: IPushProducer | None = None
        self._gone = False

    # -- ResponseWriter ------------------------------------------------------
    def write_head(self, status: int, headers: Headers, reason: str | None = None) -> None:
        """Send the status line and headers in one write, adding framing, ``Date`` and ``Connection``."""
        if self.done:
            return
        if self.head_written:
            self._misuse("write_head called twice")
            return
        proto = self._proto
        request = self.request
        cl = te = None
        conn_close = has_date = has_server = False
        parts = [status_line(status, reason)]
        append = parts.append
        http10 = request.version == "1.0"
        for lname, name, value in headers.entries():
            kind = _SPECIAL.get(lname)
            if kind is not None:
                if kind is _LENGTH:
                    cl = value
                elif kind is _TE:
                    if http10:
                        continue  # no chunked coding for HTTP/1.0: the close ends the body
                    te = value
                elif kind is _CONNECTION:
                    conn_close = conn_close or "close" in value.lower()
                elif kind is _DATE:
                    has_date = True
                else:
                    has_server = True
            append(f"{name}: {value}\r\n")
        if not has_date:
            append(proto.date_line())
        if not has_server and proto.server_line:
            append(proto.server_line)

        if status < 200 and status != 101:
            # Interim response (103 Early Hints...): the final head follows.
            append("\r\n")
            proto.output.write("".join(parts).encode("latin-1"))
            return
        mode = response_body_mode(status, request.method, http10, te, cl)
        if mode == LENGTH:
            try:
                self._out_left = int(cl)  # type: ignore[arg-type]  # LENGTH: cl is set
            except ValueError:
                self._misuse(f"invalid Content-Length {cl!r}")
                return
        elif mode == CHUNKED and te is None:
            append("Transfer-Encoding: chunked\r\n")
        self._mode = mode
        keep = keeps_alive(  # positional: this runs once per response
            self.keep_alive,
            conn_close,
            mode,
            proto.closing,
            self.is_upgrade and status != 101,
            self.message_complete or not self.expect_continue or self.continue_sent,
        )
        self.keep_alive = keep
        header = connection_header(status, keep, conn_close, http10)
        if header is not None:
            append(header)
        append("\r\n")
        try:
            head = "".join(parts).encode("latin-1")
        except UnicodeEncodeError:
            self._misuse("response header not latin-1")
            return
        self.status = status
        self.head_written = True
        proto.output.write(head)

    def write(self, data: bytes) -> None:
        """Send body bytes (chunk-encoded when the response is chunked)."""
        if self.done or not data:
            return
        mode = self._mode
        if mode == CHUNKED:
            self._proto.output.writeSequence((b"%x\r\n" % len(data), data, CRLF))
        elif mode == LENGTH:
            self._out_left -= len(data)
            self._proto.output.write(data)
        elif mode == UNTIL_CLOSE:
            self._proto.output.write(data)
        elif not self.head_written:
            self._misuse("write before write_head")

    def finish(self) -> None:
        """End the response; the connection goes on with the next request or closes."""
        if self.done:
            return
        if not self.head_written:
            self._misuse("finish before write_head")
            return
        if self._mode == CHUNKED:
            self._proto.output.write(CHUNKED_END)
        elif not body_framed(self._mode, self._out_left):
            # The client cannot find the end of this response: only a close helps.
            if self._mode == LENGTH:
                log.warn(  # noqa: G010 - twisted.logger.Logger has no .warning
                    "response body length differs from Content-Length by {delta}",
                    delta=-self._out_left,
                )
            self.keep_alive = False
        self.done = True
        # Disconnect callbacks are for an unfinished response only: dropping them now
        # also breaks the exchange -> callback -> body -> relay -> exchange cycle.
        self._callbacks = None
        if self._producer is not None:
            self.unregister_producer()
        self._proto.response_finished(self)

    def abort(self) -> None:
        """End the connection after what was already written (the upstream broke mid-body):
        the client sees a truncated response, as with nginx, never a fake complete one."""
        if self.done:
            return
        self.done = True
        if self._producer is not None:
            self.unregister_producer()
        self._proto.close()

    def register_producer(self, producer: IPushProducer) -> None:
        """Let the client socket pause ``producer`` while its write buffer is full."""
        if self.done:
            return
        self._producer = producer
        self._proto.output.registerProducer(producer, True)

    def unregister_producer(self) -> None:
        """Undo :meth:`register_producer`."""
        if self._producer is not None:
            self._producer = None
            if not self._proto.lost:
                self._proto.output.unregisterProducer()

    def on_disconnect(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` if the client goes away (or the server gives up) before :meth:`finish`."""
        if self.done:
            if self._gone:
                callback()
            return
        if self._callbacks is None:
            self._callbacks = [callback]
        else:
            self._callbacks.append(callback)

    def upgrade(self) -> RawChannel:
        """After ``write_head(101, ...)``: return the client connection as a :class:`RawChannel`."""
        if self.done or self.status != 101 or not self.is_upgrade:
            raise RuntimeError("upgrade() needs an upgrade request answered with 101")
        self.done = True
        return self._proto.switch_to_raw(self)

    # -- connection side -------------------------------------------------------
    def fire_disconnect(self) -> None:
        """Mark the exchange over and run the ``on_disconnect`` callbacks once."""
        self.done = True
        self._gone = True
        callbacks, self._callbacks = self._callbacks, None
        if callbacks:
            for callback in callbacks:
                try:
                    callback()
                except Exception:  # noqa: BLE001 - a callback's bug must not break the connection
                    log.failure("on_disconnect callback failed")
        if self._producer is not None:
            self.unregister_producer()

    def pause_body(self) -> None:
        if self._proto.current is self and not self.discard:
            self._proto.pause_reading(PAUSE_BODY)

    def resume_body(self) -> None:
        self._proto.resume_reading(PAUSE_BODY)

    def stop_body(self) -> None:
        # The consumer gave up on the body: drop the rest of it.
        self.discard = True
        self._proto.resume_reading(PAUSE_BODY | PAUSE_WAIT)

    def body_started(self) -> None:
        proto = self._proto
        proto.resume_reading(PAUSE_WAIT)
        if (
            self.expect_continue
            and not self.continue_sent
            and not self.head_written
            and not self.message_complete
            and not self.done
        ):
            self.continue_sent = True
            proto.output.write(CONTINUE)

    def _misuse(self, what: str) -> None:
        log.error("ResponseWriter misuse: {what}; dropping the connection", what=what)
        self.done = True
        self._proto.abort()
