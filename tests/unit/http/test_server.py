"""Unit tests of the native HTTP/1.1 server protocol, on StringTransport and Clock."""

from __future__ import annotations

from typing import Any

import httptools
import pytest
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from kongtx.http.gateway_io import GatewayRequest
from kongtx.http.headers import Headers
from kongtx.http.server import WAIT_BUFFER, HTTPServerFactory, HTTPServerProtocol
from tests.support.runtime import refcount_cleanup

#: Every test here runs with both parsers (httptools and the pure-Python one).
pytestmark = pytest.mark.usefixtures("http_parser")


class Resp:
    """One parsed response."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.complete = False


def parse_responses(data: bytes) -> list[Resp]:
    """Parse the responses in ``data`` (1xx included) with httptools."""
    out: list[Resp] = []

    class Callbacks:
        def on_message_begin(self) -> None:
            out.append(Resp())

        def on_header(self, name: bytes, value: bytes) -> None:
            out[-1].headers[name.decode().lower()] = value.decode()

        def on_headers_complete(self) -> None:
            out[-1].status = parser.get_status_code()

        def on_body(self, body: bytes) -> None:
            out[-1].body += body

        def on_message_complete(self) -> None:
            out[-1].complete = True

    parser = httptools.HttpResponseParser(Callbacks())
    parser.feed_data(data)
    return out


class Recorder:
    """A handler that keeps requests and writers, answering only when told to."""

    def __init__(self) -> None:
        self.calls: list[tuple[GatewayRequest, Any]] = []

    def __call__(self, request: GatewayRequest, writer: Any) -> None:
        self.calls.append((request, writer))

    @property
    def requests(self) -> list[GatewayRequest]:
        return [r for r, _ in self.calls]


class Sink:
    """A body consumer that records what it gets."""

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.finished = False
        self.failure: Failure | None = None

    def write(self, data: bytes) -> None:
        self.data.append(data)

    def finish(self) -> None:
        self.finished = True

    def fail(self, reason: Failure) -> None:
        self.failure = reason


def answer(writer: Any, status: int = 200, body: bytes = b"ok", **headers: str) -> None:
    """Write a whole response with a Content-Length."""
    h = Headers(
        [("Content-Length", str(len(body)))]
        + [(k.replace("_", "-"), v) for k, v in headers.items()]
    )
    writer.write_head(status, h)
    writer.write(body)
    writer.finish()


def connect(
    handler: Any, clock: Clock | None = None, **options: Any
) -> tuple[HTTPServerProtocol, StringTransport, Clock]:
    """Build a connected protocol on a StringTransport."""
    clock = clock or Clock()
    factory = HTTPServerFactory(handler, clock, **options)
    proto = factory.buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport, clock


GET = b"GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\nx-a: 2\r\n\r\n"


def first_writer(
    data: bytes = GET, **options: Any
) -> tuple[Recorder, HTTPServerProtocol, StringTransport, Any]:
    """Connect a :class:`Recorder` and send ``data``: (recorder, protocol, transport, first writer)."""
    rec = Recorder()
    proto, transport, _ = connect(rec, **options)
    proto.dataReceived(data)
    return rec, proto, transport, rec.calls[0][1]


def test_request_fields() -> None:
    """The handler gets a GatewayRequest with the parsed head and connection details."""
    rec = Recorder()
    proto, _transport, _ = connect(rec)
    proto.dataReceived(GET)
    (req,) = rec.requests
    assert (req.method, req.target, req.version, req.scheme) == ("GET", "/p?q=1", "1.1", "http")
    assert req.headers.get_all("x-a") == ["1", "2"]
    assert req.headers.get("host") == "example.com"
    assert (req.client_ip, req.client_port, req.server_port) == ("192.168.1.1", 54321, 12345)
    assert req.body is None and req.sni is None and req.keep_alive


def test_keep_alive_serves_next_request() -> None:
    """A Content-Length response keeps the connection for the next request."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(GET)
    answer(rec.calls[0][1], body=b"one")
    proto.dataReceived(GET)
    answer(rec.calls[1][1], body=b"two")
    resps = parse_responses(transport.value())
    assert [r.body for r in resps] == [b"one", b"two"]
    assert "connection" not in resps[0].headers and "date" in resps[0].headers
    assert not transport.disconnecting


def test_chunked_response_without_length() -> None:
    """Without Content-Length or Transfer-Encoding, an HTTP/1.1 response is chunked."""
    rec, proto, transport, writer = first_writer()
    writer.write_head(200, Headers([("X-B", "b")]))
    writer.write(b"hello ")
    writer.write(b"world")
    writer.finish()
    raw = transport.value()
    assert b"Transfer-Encoding: chunked\r\n" in raw
    assert raw.endswith(b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n")
    (resp,) = parse_responses(raw)
    assert resp.complete and resp.body == b"hello world"
    assert not transport.disconnecting


def test_http10_close_delimited() -> None:
    """An HTTP/1.0 response without Content-Length is delimited by the close."""
    rec, proto, transport, writer = first_writer(
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    )
    writer.write_head(200, Headers())
    writer.write(b"abc")
    writer.finish()
    raw = transport.value()
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert (
        b"chunked" not in raw and b"Connection: close\r\n" in raw and raw.endswith(b"\r\n\r\nabc")
    )
    assert transport.disconnecting


def test_http10_keep_alive_only_when_asked() -> None:
    """HTTP/1.0 keeps the connection only with Connection: keep-alive."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    answer(rec.calls[0][1])
    assert b"Connection: keep-alive\r\n" in transport.value() and not transport.disconnecting
    proto2, transport2, _ = connect(rec)
    proto2.dataReceived(b"GET / HTTP/1.0\r\n\r\n")
    answer(rec.calls[1][1])
    assert b"Connection: close\r\n" in transport2.value() and transport2.disconnecting


def test_connection_close_request() -> None:
    """Connection: close from the client closes after the response."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert rec.requests[0].keep_alive is False
    answer(rec.calls[0][1])
    assert b"Connection: close\r\n" in transport.value() and transport.disconnecting


def test_head_response_has_no_body() -> None:
    """A HEAD response keeps the core's Content-Length and sends no body bytes."""
    rec, proto, transport, writer = first_writer(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    writer.write_head(200, Headers([("Content-Length", "5")]))
    writer.write(b"hello")
    writer.finish()
    assert transport.value().endswith(
        b"Content-Length: 5\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n"
    )
    assert not transport.disconnecting


def test_no_framing_added_for_204() -> None:
    """A 204 gets neither chunked coding nor a body."""
    rec, proto, transport, writer = first_writer()
    writer.write_head(204, Headers())
    writer.write(b"ignored")
    writer.finish()
    raw = transport.value()
    assert raw.startswith(b"HTTP/1.1 204 No Content\r\n") and b"chunked" not in raw
    assert raw.endswith(b"GMT\r\n\r\n")


def test_custom_reason_and_server_header() -> None:
    """A reason phrase from the core is used; the Server header is added when configured."""
    rec, proto, transport, writer = first_writer(server_header="kongtx/0.1")
    writer.write_head(299, Headers([("Content-Length", "0")]), reason="Fine")
    writer.finish()
    raw = transport.value()
    assert raw.startswith(b"HTTP/1.1 299 Fine\r\n") and b"Server: kongtx/0.1\r\n" in raw


def test_date_cached_per_second() -> None:
    """The Date header follows the reactor clock."""
    rec = Recorder()
    clock = Clock()
    clock.advance(86400 + 0.5)
    proto, transport, _ = connect(rec, clock)
    proto.dataReceived(GET)
    answer(rec.calls[0][1])
    assert b"Date: Fri, 02 Jan 1970 00:00:00 GMT\r\n" in transport.value()
    clock.advance(1)
    proto.dataReceived(GET)
    answer(rec.calls[1][1])
    assert b"Date: Fri, 02 Jan 1970 00:00:01 GMT\r\n" in transport.value()


def test_pipelined_requests_answered_in_order() -> None:
    """Two requests in one read: the second starts only after the first finished."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(GET.replace(b"/p", b"/1") + GET.replace(b"/p", b"/2"))
    assert [r.target for r in rec.requests] == ["/1?q=1"]
    assert transport.producerState == "paused"
    first = rec.calls[0][1]
    first.write_head(200, Headers([("Content-Length", "1")]))
    assert len(rec.calls) == 1
    first.write(b"1")
    first.finish()
    assert [r.target for r in rec.requests] == ["/1?q=1", "/2?q=1"]
    assert transport.producerState == "paused"  # still answering /2
    answer(rec.calls[1][1], body=b"2")
    assert transport.producerState == "producing"
    assert [r.body for r in parse_responses(transport.value())] == [b"1", b"2"]


def test_next_request_not_parsed_while_busy() -> None:
    """A request arriving while a response is in progress waits unparsed and pauses reading."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(GET)
    proto.dataReceived(GET.replace(b"/p", b"/2"))
    assert len(rec.calls) == 1 and transport.producerState == "paused"
    answer(rec.calls[0][1])
    assert [r.target for r in rec.requests] == ["/p?q=1", "/2?q=1"]
    answer(rec.calls[1][1])
    assert transport.producerState == "producing"


def test_synchronous_handler_many_pipelined() -> None:
    """A handler that answers at once serves many pipelined requests without recursion."""

    def handler(request: GatewayRequest, writer: Any) -> None:
        answer(writer, body=request.target.encode())

    proto, transport, _ = connect(handler)
    proto.dataReceived(b"".join(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(2000)))
    bodies = [r.body for r in parse_responses(transport.value())]
    assert bodies == [b"/%d" % i for i in range(2000)]


def test_chunked_request_body_streamed() -> None:
    """Chunked request body bytes reach the consumer as they arrive."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    req, writer = rec.calls[0]
    assert req.body is not None and req.body.length is None
    sink = Sink()
    req.body.start(sink)
    proto.dataReceived(b"5\r\nhello\r\n")
    assert sink.data == [b"hello"] and not sink.finished
    proto.dataReceived(b"6\r\n world\r\n0\r\n\r\n")
    assert b"".join(sink.data) == b"hello world" and sink.finished
    answer(writer)
    assert not transport.disconnecting


def test_content_length_body_and_buffering_before_start() -> None:
    """Body bytes that arrive before the core reads them are buffered and delivered on start."""
    rec = Recorder()
    proto, _transport, _ = connect(rec)
    proto.dataReceived(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc")
    req, _writer = rec.calls[0]
    assert req.body.length == 6
    proto.dataReceived(b"def")
    sink = Sink()
    req.body.start(sink)
    assert b"".join(sink.data) == b"abcdef" and sink.finished


def test_body_buffer_limit_pauses_until_start() -> None:
    """Unread body bytes past WAIT_BUFFER pause reading until the core starts the body."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    size = WAIT_BUFFER * 2
    proto.dataReceived(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size)
    proto.dataReceived(b"x" * (WAIT_BUFFER + 1))
    assert transport.producerState == "paused"
    sink = Sink()
    rec.requests[0].body.start(sink)
    assert transport.producerState == "producing"


def test_backpressure_pauses_client() -> None:
    """When the body consumer pauses the body, reading from the client stops."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n")
    body = rec.requests[0].body
    body.start(Sink())
    body.pauseProducing()
    assert transport.producerState == "paused"
    body.resumeProducing()
    assert transport.producerState == "producing"


def test_expect_100_continue_on_body_start() -> None:
    """100 Continue is sent when the core starts reading the body."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(
        b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    )
    assert transport.value() == b""
    req, writer = rec.calls[0]
    sink = Sink()
    req.body.start(sink)
    assert transport.value() == b"HTTP/1.1 100 Continue\r\n\r\n"
    proto.dataReceived(b"abc")
    assert sink.finished
    answer(writer)
    assert [r.status for r in parse_responses(transport.value())] == [100, 200]
    assert not transport.disconnecting


def test_expect_100_unread_body_closes() -> None:
    """A final response without reading the body skips 100 Continue and closes."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(
        b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    )
    answer(rec.calls[0][1], status=401)
    raw = transport.value()
    assert b"100 Continue" not in raw and b"Connection: close\r\n" in raw
    assert transport.disconnecting


def test_small_unread_body_is_drained() -> None:
    """An early response to a small unread body drains it and keeps the connection."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
    answer(rec.calls[0][1], status=403)
    assert not transport.disconnecting
    proto.dataReceived(b"defghij" + GET)
    assert len(rec.calls) == 2 and rec.requests[1].target == "/p?q=1"


def test_large_unread_body_closes() -> None:
    """An early response to a big unread body closes the connection."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\nabc")
    answer(rec.calls[0][1], status=403)
    assert transport.disconnecting


def test_header_timeout() -> None:
    """A client that does not finish its head in header_timeout is disconnected."""
    rec = Recorder()
    proto, transport, clock = connect(rec, header_timeout=10)
    proto.dataReceived(b"GET / HTTP/1.1\r\nHo")
    clock.advance(9)
    assert not transport.disconnecting
    proto.dataReceived(b"st: a\r\n")
    clock.advance(1.5)
    assert transport.disconnecting and rec.calls == []


def test_keepalive_timeout() -> None:
    """An idle keep-alive connection is closed after keepalive_timeout."""
    rec = Recorder()
    proto, transport, clock = connect(rec, keepalive_timeout=5, header_timeout=100)
    proto.dataReceived(GET)
    clock.advance(50)  # a slow handler is not a timeout
    answer(rec.calls[0][1])
    clock.advance(4)
    assert not transport.disconnecting
    clock.advance(1.5)
    assert transport.disconnecting


def test_keepalive_then_header_timeout() -> None:
    """After a keep-alive response, a started request gets header_timeout again."""
    rec = Recorder()
    proto, transport, clock = connect(rec, keepalive_timeout=5, header_timeout=20)
    proto.dataReceived(GET)
    answer(rec.calls[0][1])
    clock.advance(4)
    proto.dataReceived(b"GET / HT")
    clock.advance(10)
    assert not transport.disconnecting
    clock.advance(11)
    assert transport.disconnecting


def test_body_timeout_answers_408() -> None:
    """No body bytes for body_timeout: the consumer fails and a 408 closes the connection."""
    rec = Recorder()
    proto, transport, clock = connect(rec, body_timeout=30)
    proto.dataReceived(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
    req, writer = rec.calls[0]
    gone: list[bool] = []
    writer.on_disconnect(lambda: gone.append(True))
    sink = Sink()
    req.body.start(sink)
    clock.advance(20)
    proto.dataReceived(b"cd")
    clock.advance(20)
    assert sink.failure is None
    clock.advance(11)
    assert sink.failure is not None and gone == [True]
    (resp,) = parse_responses(transport.value())
    assert resp.status == 408 and transport.disconnecting
    answer(writer)  # the core's late answer is ignored
    assert len(parse_responses(transport.value())) == 1


def test_body_timeout_paused_by_consumer() -> None:
    """While the consumer holds the body paused, the body timeout does not fire."""
    rec = Recorder()
    proto, transport, clock = connect(rec, body_timeout=30)
    proto.dataReceived(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
    body = rec.requests[0].body
    body.start(Sink())
    body.pauseProducing()
    clock.advance(100)
    assert not transport.disconnecting


def test_client_disconnect_mid_body() -> None:
    """The client leaving mid-body fails the body and fires on_disconnect."""
    rec = Recorder()
    proto, _transport, _ = connect(rec)
    proto.dataReceived(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
    req, writer = rec.calls[0]
    calls: list[int] = []
    writer.on_disconnect(lambda: calls.append(1))
    sink = Sink()
    req.body.start(sink)
    proto.connectionLost(Failure(ConnectionDone()))
    assert sink.failure is not None and calls == [1]
    writer.on_disconnect(lambda: calls.append(2))
    assert calls == [1, 2]


def test_on_disconnect_not_fired_after_finish() -> None:
    """A finished response does not fire on_disconnect when the connection closes."""
    rec, proto, _transport, writer = first_writer()
    calls: list[int] = []
    writer.on_disconnect(lambda: calls.append(1))
    answer(writer)
    proto.connectionLost(Failure(ConnectionDone()))
    assert calls == []


def test_body_too_large_after_start() -> None:
    """A chunked body growing past max_body_size after the handler started: 413 and close."""
    rec = Recorder()
    proto, transport, _ = connect(rec, max_body_size=8)
    proto.dataReceived(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    req, _writer = rec.calls[0]
    sink = Sink()
    req.body.start(sink)
    proto.dataReceived(b"5\r\nhello\r\n")
    proto.dataReceived(b"5\r\nworld\r\n")
    assert sink.failure is not None
    (resp,) = parse_responses(transport.value())
    assert resp.status == 413 and resp.body == b"Payload too large\n" and transport.disconnecting


def test_bad_chunk_after_head_written_aborts() -> None:
    """Broken chunk framing after the response head went out drops the connection."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    req, writer = rec.calls[0]
    sink = Sink()
    req.body.start(sink)
    writer.write_head(200, Headers())
    proto.dataReceived(b"zz\r\n")
    assert sink.failure is not None and transport.disconnected


def test_handler_exception_gives_500() -> None:
    """A handler that raises gets Kong's 500 text and the connection closes."""

    def handler(request: GatewayRequest, writer: Any) -> None:
        raise ValueError("boom")

    proto, transport, _ = connect(handler)
    proto.dataReceived(GET)
    (resp,) = parse_responses(transport.value())
    assert resp.status == 500 and resp.body == b"An unexpected error occurred\n"
    assert transport.disconnecting


def test_handler_deferred_failure_after_head_aborts() -> None:
    """A handler Deferred failing after the head was written aborts the connection."""
    d: Deferred[None] = Deferred()
    writers: list[Any] = []

    def handler(request: GatewayRequest, writer: Any) -> Deferred[None]:
        writers.append(writer)
        return d

    proto, transport, _ = connect(handler)
    proto.dataReceived(GET)
    writers[0].write_head(200, Headers())
    d.errback(ValueError("late"))
    assert transport.disconnected


def test_upgrade_hands_over_raw_bytes() -> None:
    """After 101, upgrade() gives a channel with the bytes that followed the request."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nEARLY"
    )
    proto.dataReceived(b"-MORE")
    assert transport.producerState == "paused"
    writer = rec.calls[0][1]
    writer.write_head(101, Headers([("Connection", "Upgrade"), ("Upgrade", "websocket")]))
    channel = writer.upgrade()
    got: list[bytes] = []
    closed: list[bool] = []
    channel.set_receiver(got.append, lambda: closed.append(True))
    assert b"".join(got) == b"EARLY-MORE" and transport.producerState == "producing"
    proto.dataReceived(b"GET / HTTP/1.1\r\n\r\n")
    assert got[-1] == b"GET / HTTP/1.1\r\n\r\n" and len(rec.calls) == 1
    channel.write(b"frame")
    assert transport.value().endswith(b"\r\n\r\nframe")
    assert b"Connection: close" not in transport.value()
    proto.connectionLost(Failure(ConnectionDone()))
    assert closed == [True]


def test_upgrade_refused_closes() -> None:
    """An upgrade request answered without 101 closes the connection afterwards."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
    answer(rec.calls[0][1])
    assert b"Connection: close\r\n" in transport.value() and transport.disconnecting


def test_tls_details_from_handle() -> None:
    """On https, SNI and TLS version come from the pyOpenSSL connection."""

    class Handle:
        def get_servername(self) -> bytes:
            return b"api.example.com"

        def get_protocol_version_name(self) -> str:
            return "TLSv1.3"

    class TLSTransport(StringTransport):
        def getHandle(self) -> Handle:
            return Handle()

    rec = Recorder()
    factory = HTTPServerFactory(rec, Clock(), scheme="https")
    proto = factory.buildProtocol(None)
    proto.makeConnection(TLSTransport())
    proto.dataReceived(GET)
    req = rec.requests[0]
    assert (req.scheme, req.sni, req.tls_version) == ("https", "api.example.com", "TLSv1.3")


def test_on_request_start_and_producer() -> None:
    """on_request_start sees each request; register_producer goes to the client transport."""
    seen: list[str] = []
    rec = Recorder()
    proto, transport, _ = connect(rec, on_request_start=lambda r: seen.append(r.target))
    proto.dataReceived(GET)
    assert seen == ["/p?q=1"]
    writer = rec.calls[0][1]
    producer = Sink()
    writer.register_producer(producer)  # type: ignore[arg-type]
    assert transport.producer is producer
    answer(writer)
    assert transport.producer is None


def test_abort_closes_after_what_was_written() -> None:
    """abort() closes the connection once the bytes already written are sent: a truncated response."""
    rec, proto, transport, writer = first_writer()
    writer.write_head(200, Headers([("Content-Length", "10")]))
    writer.write(b"abc")
    writer.abort()
    assert transport.disconnecting
    assert transport.value().endswith(b"\r\n\r\nabc")


def test_http10_drops_core_chunked() -> None:
    """A core Transfer-Encoding is not sent to an HTTP/1.0 client; the close ends the body."""
    rec, proto, transport, writer = first_writer(b"GET / HTTP/1.0\r\n\r\n")
    writer.write_head(200, Headers([("Transfer-Encoding", "chunked")]))
    writer.write(b"raw")
    writer.finish()
    raw = transport.value()
    assert (
        b"Transfer-Encoding" not in raw and raw.endswith(b"\r\n\r\nraw") and transport.disconnecting
    )


def test_early_finish_fails_body_consumer() -> None:
    """Finishing the response before the body ended tells the body's consumer to stop."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
    req, writer = rec.calls[0]
    sink = Sink()
    req.body.start(sink)
    answer(writer, status=413)
    assert sink.failure is not None and not transport.disconnecting
    proto.dataReceived(b"cdefghij")
    assert b"".join(sink.data) == b"ab"


def test_interim_response_then_final() -> None:
    """A 103 interim head may precede the final response."""
    rec, proto, transport, writer = first_writer()
    writer.write_head(103, Headers([("Link", "</a.css>; rel=preload")]))
    answer(writer)
    assert [r.status for r in parse_responses(transport.value())] == [103, 200]


def test_content_length_mismatch_closes() -> None:
    """A body shorter than the core's Content-Length closes the connection after finish."""
    rec, proto, transport, writer = first_writer()
    writer.write_head(200, Headers([("Content-Length", "10")]))
    writer.write(b"abc")
    writer.finish()
    assert transport.disconnecting


@refcount_cleanup
def test_a_finished_response_leaves_no_reference_cycle() -> None:
    """A proxied response registers its body's stopProducing with the exchange while the
    body's consumer holds the exchange: once the response is finished, refcounting alone
    must free them (no work left for the cyclic garbage collector per request)."""
    import gc

    class Relay:
        """The gateway's relay shape: the body's consumer, holding the writer."""

        def __init__(self, writer: Any, body: Any) -> None:
            self.writer = writer
            writer.on_disconnect(body.stopProducing)

    class Body:
        def __init__(self) -> None:
            self.consumer: Any = None

        def stopProducing(self) -> None:
            pass

    def serve(request: GatewayRequest, writer: Any) -> None:
        body = Body()
        body.consumer = Relay(writer, body)
        answer(writer)

    gc.collect()
    gc.disable()
    try:
        proto, transport, _ = connect(serve)
        for _ in range(3):
            proto.dataReceived(GET)
        assert transport.value().count(b"HTTP/1.1 200 ") == 3
        assert gc.collect() == 0
    finally:
        gc.enable()
