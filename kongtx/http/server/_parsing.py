"""Request parsing for the server protocol: httptools callbacks, framing errors, error replies."""

from __future__ import annotations

from httptools import HttpParserCallbackError, HttpParserError, HttpParserUpgrade
from twisted.logger import Logger
from twisted.python.failure import Failure

from kongtx.http.connstats import WAITING, WRITING
from kongtx.http.gateway_io import GatewayRequest
from kongtx.http.headers import Headers
from kongtx.http.server import _wire
from kongtx.http.server._exchange import (
    PAUSE_BODY,
    PAUSE_ERROR,
    PAUSE_PIPELINE,
    PAUSE_UPGRADE,
    PAUSE_WAIT,
    Exchange,
    RequestBody,
)
from kongtx.http.server._framing import Reject, check_head

log = Logger(namespace="kongtx.http.server._protocol")

# Timer kinds.
HEADER, BODY, KEEPALIVE = 1, 2, 3

#: Request bytes buffered before the core reads the body; past this, reading pauses.
WAIT_BUFFER = 65536
#: Slack over ``max_header_size`` for the raw count of an unfinished header section
#: (it may include the tail of the previous message's read).
_READ_SLACK = 65536

_METHODS: dict[bytes, str] = {}


class RequestRejected(Exception):
    """The request stream broke (bad framing, too large, timeout); given to the body's consumer."""


class RequestParsing:
    """The parsing half of :class:`~kongtx.http.server.HTTPServerProtocol` (a mixin).

    httptools calls the ``on_*`` methods; the connection state, dispatch
    (``_next``), flow control and timers (``_arm``) live in the protocol.
    """

    __slots__ = ()

    # -- parser callbacks (httptools) ----------------------------------------------
    def on_message_begin(self) -> None:
        self._in_message = True
        self._conn_state = self._factory.stats.request_begins(self._conn_state)
        self._url = b""
        self._raw_headers = []
        self._header_size = 0
        self._raw_count = 0
        if self._timer_kind != HEADER:
            self._arm(HEADER, self._factory.header_timeout)

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
        method = _METHODS.get(method_b)
        if method is None:
            method = _METHODS.setdefault(method_b, method_b.decode("latin-1"))
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
        self._conn_state = factory.stats.move(self._conn_state, WRITING)
        if body is not None:
            self._arm(BODY, factory.body_timeout)
        else:
            self._timer_kind = 0
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
        if self._timer_kind == BODY:
            self._deadline = self._clock.seconds() + factory.body_timeout

    def on_message_complete(self) -> None:
        exchange = self.current
        self.current = None
        self._in_message = False
        if exchange is None:
            return
        exchange.message_complete = True
        self._timer_kind = 0
        if exchange.body is not None:
            if exchange.body.length is None:
                self._parser.set_dangerous_leniencies(lenient_chunked_length=False)  # type: ignore[union-attr]
            self.resume_reading(PAUSE_BODY | PAUSE_WAIT)
            if not exchange.discard:
                exchange.body.end()
        if exchange.done and self._active is None and not self._queue:
            self._arm(KEEPALIVE, self._factory.keepalive_timeout)
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
            if self._in_message and self.current is None:
                # An unfinished header section: bound what llhttp may accumulate.
                self._raw_count += len(data)
                if self._raw_count > self._factory.max_header_size + _READ_SLACK:
                    self._parse_failed(400, _wire.HEADER_TOO_LARGE)
                elif data[-1:] == b"\n" and self._url and parser.get_http_version() == "0.0":
                    # The request line ended without a version (HTTP/0.9): llhttp would
                    # wait for a header section that never comes; nginx answers at once.
                    self._parse_failed(400, _wire.BAD_REQUEST)
        finally:
            self._in_feed = False
        self._next()

    def _parse_failed(self, status: int, message: str) -> None:
        self._parser = None
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
                self._close()
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
        if self.lost:
            return
        self.transport.write(  # type: ignore[union-attr]
            _wire.error_response(status, message, self.date_line(), self.server_line)
        )
        self._close()

    def _read_tls(self) -> None:
        self._tls_done = True
        try:
            handle = self.transport.getHandle()  # type: ignore[union-attr]
            name = handle.get_servername()
            self._sni = name.decode("ascii", "replace") if name else None
            self._tls_version = handle.get_protocol_version_name()
        except Exception:  # noqa: BLE001 - not a pyOpenSSL transport
            log.failure("cannot read TLS details of the connection")
