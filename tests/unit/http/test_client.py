"""Unit tests of the upstream client: framing, parsing, pool rules, timeouts, all in memory."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import (
    ConnectionDone,
    ConnectionLost,
    ConnectionRefusedError,
)
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from kongtx.http.body import BufferedBody, StreamBody, read_body
from kongtx.http.client import (
    UpstreamAddress,
    UpstreamClosed,
    UpstreamConnectError,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamRequest,
    UpstreamTimeout,
    serialize_head,
)
from kongtx.http.headers import Headers

#: Every test here runs with both parsers (httptools and the pure-Python one).
pytestmark = pytest.mark.usefixtures("http_parser")

ADDRESS = UpstreamAddress("10.0.0.1", 8080)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def _result(d: Deferred[Any]) -> Any:
    results: list[Any] = []
    d.addBoth(results.append)
    assert results, "Deferred has not fired"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


def _failure(d: Deferred[Any], *types: type[BaseException]) -> Failure:
    results: list[Any] = []
    d.addBoth(results.append)
    assert results and isinstance(results[0], Failure), f"expected a failure, got {results}"
    assert results[0].check(*types), results[0]
    return results[0]


def _get(
    target: str = "/", method: str = "GET", body: Any = None, **headers: str
) -> UpstreamRequest:
    return UpstreamRequest(
        method, target, Headers([("Host", "example.com"), *headers.items()]), body
    )


class Env:
    """A pool on a memory reactor, with helpers to play the upstream side."""

    def __init__(self, **options: Any) -> None:
        self.reactor = MemoryReactorClock()
        self.pool = UpstreamPool(self.reactor, **options)

    def request(
        self,
        request: UpstreamRequest | None = None,
        address: UpstreamAddress = ADDRESS,
        **timeouts: float,
    ) -> Deferred[Any]:
        return self.pool.request(request or _get(), address, **timeouts)

    def accept(self, index: int = -1) -> tuple[Any, StringTransport]:
        """Complete the connect at ``tcpClients[index]``; return (protocol, transport)."""
        factory = self.reactor.tcpClients[index][2]
        proto = factory.buildProtocol(None)
        transport = StringTransport()
        proto.makeConnection(transport)
        return proto, transport

    @property
    def connects(self) -> int:
        return len(self.reactor.tcpClients)


# serialization ------------------------------------------------------------------------


def test_head_without_body_has_no_framing() -> None:
    """A GET without body is the request line, the headers and a blank line, nothing else."""
    head, chunked = serialize_head(_get("/a?b=1", **{"X-Id": "7"}), ADDRESS.host_header)
    assert head == b"GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-Id: 7\r\n\r\n"
    assert not chunked


def test_post_without_body_announces_zero_length() -> None:
    """POST/PUT/PATCH with no body carry Content-Length: 0."""
    head, _ = serialize_head(_get(method="POST"), ADDRESS.host_header)
    assert head.endswith(b"Content-Length: 0\r\n\r\n")


def test_known_length_body_uses_content_length() -> None:
    """A buffered or length-known stream body is framed with Content-Length."""
    head, chunked = serialize_head(
        _get(method="PUT", body=BufferedBody(b"abcde")), ADDRESS.host_header
    )
    assert head.endswith(b"Content-Length: 5\r\n\r\n") and not chunked
    head, chunked = serialize_head(_get(method="PUT", body=StreamBody(9)), ADDRESS.host_header)
    assert head.endswith(b"Content-Length: 9\r\n\r\n") and not chunked


def test_unknown_length_body_is_chunked() -> None:
    """A stream body without a length goes chunked."""
    head, chunked = serialize_head(_get(method="POST", body=StreamBody(None)), ADDRESS.host_header)
    assert head.endswith(b"Transfer-Encoding: chunked\r\n\r\n") and chunked


def test_caller_framing_headers_are_replaced() -> None:
    """Content-Length / Transfer-Encoding from the caller are dropped in favour of ours."""
    request = UpstreamRequest(
        "POST",
        "/",
        Headers(
            [
                ("Host", "h"),
                ("content-length", "999"),
                ("Transfer-Encoding", "gzip, chunked"),
                ("X-Content-Length", "keep"),
            ]
        ),
        BufferedBody(b"xy"),
    )
    head, _ = serialize_head(request, ADDRESS.host_header)
    assert (
        head == b"POST / HTTP/1.1\r\nHost: h\r\nX-Content-Length: keep\r\nContent-Length: 2\r\n\r\n"
    )
    assert request.headers.get("content-length") == "999"  # the caller's object is untouched


def test_host_added_when_missing() -> None:
    """Without a Host header the address's host:port is used (port omitted when default)."""
    request = UpstreamRequest("GET", "/", Headers([("X-Host", "no")]))
    head, _ = serialize_head(request, UpstreamAddress("10.1.2.3", 8000).host_header)
    assert b"\r\nHost: 10.1.2.3:8000\r\n" in head
    head, _ = serialize_head(request, UpstreamAddress("::1", 443, tls=True).host_header)
    assert b"\r\nHost: [::1]\r\n" in head


def test_host_in_any_case_is_kept_and_not_added() -> None:
    """A Host field in any case counts as the Host header; only field names are looked at."""
    request = UpstreamRequest("GET", "/", Headers([("X-A", "host: v"), ("hOST", "h")]))
    head, _ = serialize_head(request, ADDRESS.host_header)
    assert head == b"GET / HTTP/1.1\r\nX-A: host: v\r\nhOST: h\r\n\r\n"


# responses ------------------------------------------------------------------------


def test_content_length_response() -> None:
    """Status, reason, headers, version and body come from the wire."""
    env = Env()
    d = env.request()
    proto, transport = env.accept()
    assert transport.value() == b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    proto.dataReceived(b"HTTP/1.1 201 Made It\r\nX-A: 1\r\nContent-Length: 5\r\n\r\nhello")
    resp = _result(d)
    assert (resp.status, resp.reason, resp.version) == (201, "Made It", "1.1")
    assert resp.headers.get("x-a") == "1" and resp.body.length == 5
    assert _result(read_body(resp.body)) == b"hello"
    assert resp.upgraded is None


def test_response_fed_byte_by_byte() -> None:
    """A response split into 1-byte reads parses the same."""
    env = Env()
    d = env.request()
    proto, _ = env.accept()
    for i, _ in enumerate(
        data := b"HTTP/1.1 200 Fine Thanks\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
    ):
        proto.dataReceived(data[i : i + 1])
    resp = _result(d)
    assert resp.reason == "Fine Thanks" and resp.body.length is None
    assert _result(read_body(resp.body)) == b"abc"
    assert env.pool.idle_count(ADDRESS) == 1


def test_body_streams_before_the_end() -> None:
    """Body bytes reach the consumer as they arrive, and the end once complete."""
    env = Env()
    d = env.request()
    proto, _ = env.accept()
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc")
    got: list[Any] = []

    class Consumer:
        def write(self, data: bytes) -> None:
            got.append(data)

        def finish(self) -> None:
            got.append("end")

        def fail(self, reason: Failure) -> None:
            got.append(reason)

    _result(d).body.start(Consumer())
    assert got == [b"abc"]
    proto.dataReceived(b"def")
    assert got == [b"abc", b"def", "end"]


def test_head_response_has_no_body_and_connection_is_reused() -> None:
    """A HEAD response ends at its headers even with a Content-Length."""
    env = Env()
    d = env.request(_get(method="HEAD"))
    proto, _transport = env.accept()
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
    resp = _result(d)
    assert resp.headers.get("content-length") == "1234"
    assert _result(read_body(resp.body)) == b""
    d2 = env.request()
    assert env.connects == 1
    proto.dataReceived(OK)
    assert _result(read_body(_result(d2).body)) == b"ok"


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(status: int) -> None:
    """204 and 304 responses have an empty body whatever their headers say."""
    env = Env()
    d = env.request()
    proto, _ = env.accept()
    proto.dataReceived(b"HTTP/1.1 %d X\r\nContent-Length: 10\r\n\r\n" % status)
    resp = _result(d)
    assert resp.status == status and _result(read_body(resp.body)) == b""
    assert env.pool.idle_count(ADDRESS) == 1


def test_interim_responses_are_skipped() -> None:
    """100 Continue and 103 Early Hints are not the response."""
    env = Env()
    d = env.request()
    proto, _ = env.accept()
    proto.dataReceived(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert not d.called
    proto.dataReceived(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + OK)
    resp = _result(d)
    assert resp.status == 200 and "link" not in resp.headers


def test_switching_protocols_hands_back_a_raw_channel() -> None:
    """After a 101, bytes already read and later bytes go to the channel's receiver."""
    env = Env()
    d = env.request(_get("/ws", Upgrade="websocket", Connection="Upgrade"))
    proto, transport = env.accept()
    proto.dataReceived(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\n\r\nearly"
    )
    resp = _result(d)
    assert resp.status == 101 and resp.upgraded is not None
    got: list[bytes] = []
    closed: list[bool] = []
    resp.upgraded.set_receiver(got.append, lambda: closed.append(True))
    proto.dataReceived(b"late")
    assert got == [b"early", b"late"]
    transport.clear()
    resp.upgraded.write(b"up")
    assert transport.value() == b"up"
    assert env.pool.idle_count(ADDRESS) == 0
    proto.connectionLost(Failure(ConnectionDone()))
    assert closed == [True]


def test_close_delimited_body_ends_at_close() -> None:
    """A body with neither length nor chunking ends cleanly when the upstream closes."""
    env = Env()
    d = env.request()
    proto, _ = env.accept()
    proto.dataReceived(b"HTTP/1.1 200 OK\r\n\r\nuntil ")
    body = read_body(_result(d).body)
    proto.dataReceived(b"close")
    assert not body.called
    proto.connectionLost(Failure(ConnectionDone()))
    assert _result(body) == b"until close"
    assert env.pool.idle_count(ADDRESS) == 0


def test_upstream_closing_mid_body_fails_the_body() -> None:
    """Closing before Content-Length bytes arrived errors the body stream."""
    env = Env()
    d = env.request()
    proto, _ = env.accept()
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    body = read_body(_result(d).body)
    proto.connectionLost(Failure(ConnectionDone()))
    _failure(body, UpstreamClosed)


def test_upstream_closing_before_headers_fails_the_request() -> None:
    """A fresh connection closed before the response fails with UpstreamClosed, request_sent set."""
    env = Env()
    d = env.request()
    proto, _ = env.accept()
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nContent-")
    proto.connectionLost(Failure(ConnectionLost()))
    err = _failure(d, UpstreamClosed).value
    assert err.request_sent and err.received


@pytest.mark.parametrize(
    "wire",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    ],
)
def test_invalid_response_is_a_protocol_error(wire: bytes) -> None:
    """Malformed or ambiguous responses fail with UpstreamProtocolError and drop the connection."""
    env = Env()
    d = env.request()
    proto, transport = env.accept()
    proto.dataReceived(wire)
    _failure(d, UpstreamProtocolError)
    assert transport.disconnecting


def test_response_head_over_size_limit_is_a_protocol_error() -> None:
    """A response head over ``max_head_size`` (nginx: "upstream sent too big header")
    fails the request and drops the connection; one just under it passes."""
    env = Env(max_head_size=1024)
    d = env.request()
    proto, transport = env.accept()
    proto.dataReceived(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Big: " + b"a" * 1100 + b"\r\n\r\n"
    )
    assert "too big header" in str(_failure(d, UpstreamProtocolError).value)
    assert transport.disconnecting
    d = env.request()
    proto, _ = env.accept()
    proto.dataReceived(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Big: " + b"a" * 900 + b"\r\n\r\n"
    )
    assert _result(d).status == 200


def test_too_many_response_headers_is_a_protocol_error() -> None:
    """More than ``max_headers`` response header fields fail the request."""
    env = Env(max_headers=10)
    d = env.request()
    proto, transport = env.accept()
    proto.dataReceived(
        b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(11)) + b"\r\n"
    )
    _failure(d, UpstreamProtocolError)
    assert transport.disconnecting


def test_endless_response_header_line_is_cut_off() -> None:
    """A header line that never ends is dropped once the head is over the limit plus one
    read: what the gateway holds stays bounded (an endless head grew it by 650 MB)."""
    env = Env(max_head_size=1024)
    d = env.request()
    proto, transport = env.accept()
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nX-Endless: ")
    sent = 0
    while not transport.disconnecting and sent < 10 * 65536:
        proto.dataReceived(b"v" * 4096)
        sent += 4096
    assert transport.disconnecting and sent <= 1024 + 65536 + 4096
    _failure(d, UpstreamProtocolError)


# keep-alive pool ------------------------------------------------------------------------


def test_sequential_requests_reuse_the_connection() -> None:
    """A completed keep-alive exchange returns the connection for the next request."""
    env = Env()
    d1 = env.request()
    proto, transport = env.accept()
    proto.dataReceived(OK)
    _result(read_body(_result(d1).body))
    transport.clear()
    d2 = env.request(_get("/second"))
    assert env.connects == 1
    assert transport.value().startswith(b"GET /second HTTP/1.1\r\n")
    proto.dataReceived(OK)
    assert _result(d2).status == 200


def test_idle_connections_are_reused_last_in_first_out() -> None:
    """The most recently released connection is picked first."""
    env = Env()
    env.request()
    env.request()
    (p1, t1), (p2, t2) = env.accept(0), env.accept(1)
    p1.dataReceived(OK)
    p2.dataReceived(OK)
    t1.clear()
    t2.clear()
    env.request()
    assert t2.value() and not t1.value()


def test_pool_keys_are_separate() -> None:
    """Connections are not shared between different addresses."""
    env = Env()
    d = env.request()
    proto, _ = env.accept()
    proto.dataReceived(OK)
    _result(d)
    env.request(address=UpstreamAddress("10.0.0.1", 8081))
    assert env.connects == 2


def test_pool_size_limits_idle_connections() -> None:
    """Past pool_size idle connections per key, released ones are closed."""
    env = Env(pool_size=1)
    env.request()
    env.request()
    (p1, t1), (p2, t2) = env.accept(0), env.accept(1)
    p1.dataReceived(OK)
    p2.dataReceived(OK)
    assert env.pool.idle_count(ADDRESS) == 1
    assert not t1.disconnecting and t2.disconnecting


def test_pool_size_zero_disables_keepalive() -> None:
    """pool_size=0 closes every connection after its response."""
    env = Env(pool_size=0)
    env.request()
    proto, transport = env.accept()
    proto.dataReceived(OK)
    assert transport.disconnecting


def test_idle_timeout_closes_the_connection() -> None:
    """An idle connection is closed after idle_timeout, not before."""
    env = Env(idle_timeout=30.0)
    env.request(read_timeout=5.0)
    proto, transport = env.accept()
    env.reactor.advance(1)
    proto.dataReceived(OK)
    env.reactor.advance(29.5)
    assert not transport.disconnecting and env.pool.idle_count(ADDRESS) == 1
    env.reactor.advance(1)
    assert transport.disconnecting and env.pool.idle_count(ADDRESS) == 0


def test_reuse_resets_the_idle_timer() -> None:
    """A connection reused before idle_timeout gets a full idle period after its next response."""
    env = Env(idle_timeout=10.0)
    env.request()
    proto, transport = env.accept()
    proto.dataReceived(OK)
    env.reactor.advance(8)
    env.request()
    proto.dataReceived(OK)
    env.reactor.advance(8)
    assert not transport.disconnecting
    env.reactor.advance(3)
    assert transport.disconnecting


def test_max_requests_retires_the_connection() -> None:
    """After max_requests exchanges the connection is closed instead of pooled."""
    env = Env(max_requests=2)
    env.request()
    proto, transport = env.accept()
    proto.dataReceived(OK)
    env.request()
    proto.dataReceived(OK)
    assert transport.disconnecting and env.pool.idle_count(ADDRESS) == 0
    env.request()
    assert env.connects == 2


@pytest.mark.parametrize(
    "wire",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ],
)
def test_connection_close_and_http10_are_not_reused(wire: bytes) -> None:
    """Connection: close and HTTP/1.0 responses close the connection after the body."""
    env = Env()
    d = env.request()
    proto, transport = env.accept()
    proto.dataReceived(wire)
    assert _result(read_body(_result(d).body)) == b"ok"
    assert transport.disconnecting and env.pool.idle_count(ADDRESS) == 0


def test_http10_keep_alive_is_reused() -> None:
    """HTTP/1.0 with Connection: keep-alive stays pooled."""
    env = Env()
    env.request()
    proto, transport = env.accept()
    proto.dataReceived(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
    assert not transport.disconnecting and env.pool.idle_count(ADDRESS) == 1


def test_idle_connection_closed_by_upstream_leaves_the_pool() -> None:
    """A pooled connection the upstream closed is forgotten; the next request connects anew."""
    env = Env()
    env.request()
    proto, _ = env.accept()
    proto.dataReceived(OK)
    proto.connectionLost(Failure(ConnectionDone()))
    assert env.pool.idle_count(ADDRESS) == 0 and env.pool.open_connections == 0
    env.request()
    assert env.connects == 2


def test_unexpected_bytes_on_idle_connection_close_it() -> None:
    """Bytes arriving on an idle connection make it unusable."""
    env = Env()
    env.request()
    proto, transport = env.accept()
    proto.dataReceived(OK + b"HTTP/1.1 200 OK\r\n")
    assert transport.disconnecting


def test_early_response_during_upload_is_not_reused() -> None:
    """If the response completes before the request body was sent, the connection is closed."""
    env = Env()
    body = StreamBody(None)
    d = env.request(_get(method="POST", body=body))
    proto, transport = env.accept()
    body.feed(b"part")
    proto.dataReceived(b"HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n")
    assert _result(d).status == 413
    assert transport.disconnecting and env.pool.idle_count(ADDRESS) == 0
    body.feed(b"ignored")
    assert not transport.value().endswith(b"ignored\r\n")


# stale connection retry ------------------------------------------------------------


def _stale(env: Env, request: UpstreamRequest) -> tuple[Deferred[Any], Any]:
    env.request()
    proto, _ = env.accept()
    proto.dataReceived(OK)
    d = env.request(request)
    proto.connectionLost(Failure(ConnectionLost()))
    return d, proto


def test_reused_connection_failing_before_response_is_retried_once() -> None:
    """A stale pooled connection that dies before any response byte is retried on a new one."""
    env = Env()
    d, _ = _stale(env, _get(method="POST", body=BufferedBody(b"data")))
    assert not d.called and env.connects == 2
    proto, transport = env.accept()
    assert transport.value().endswith(b"\r\n\r\ndata")
    proto.dataReceived(OK)
    assert _result(d).status == 200


def test_retry_happens_only_once() -> None:
    """If the fresh connection fails too, the error is reported."""
    env = Env()
    d, _ = _stale(env, _get())
    proto, _ = env.accept()
    proto.connectionLost(Failure(ConnectionLost()))
    err = _failure(d, UpstreamClosed).value
    assert err.request_sent and not err.received


def test_streamed_body_is_not_replayed() -> None:
    """A request whose stream body was consumed cannot be retried."""
    env = Env()
    body = StreamBody(3)
    body.feed(b"abc")
    body.end()
    d, _ = _stale(env, _get(method="POST", body=body))
    _failure(d, UpstreamClosed)
    assert env.connects == 1


def test_fresh_connection_is_not_retried() -> None:
    """A first request on a new connection that dies is not retried."""
    env = Env()
    d = env.request()
    proto, _ = env.accept()
    proto.connectionLost(Failure(ConnectionLost()))
    _failure(d, UpstreamClosed)
    assert env.connects == 1


# request bodies and back-pressure ------------------------------------------------------------


def test_chunked_request_body_framing() -> None:
    """Stream bodies without a length are sent as chunks and a last chunk."""
    env = Env()
    body = StreamBody(None)
    env.request(_get(method="POST", body=body))
    _proto, transport = env.accept()
    body.feed(b"abc")
    body.feed(b"")
    body.feed(b"de")
    body.end()
    assert transport.value().endswith(b"\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")


def test_large_buffered_body_is_sent_after_the_head() -> None:
    """Buffered bodies larger than the coalescing limit are written with a registered producer."""
    env = Env()
    data = b"z" * 200_000
    env.request(_get(method="PUT", body=BufferedBody(data)))
    _proto, transport = env.accept()
    assert transport.value().endswith(b"Content-Length: 200000\r\n\r\n" + data)


def test_request_body_longer_than_declared_fails() -> None:
    """A stream body producing more than its length is a protocol error."""
    env = Env()
    body = StreamBody(2)
    d = env.request(_get(method="POST", body=body))
    _proto, transport = env.accept()
    body.feed(b"abc")
    _failure(d, UpstreamProtocolError)
    assert transport.disconnecting


def test_request_body_failure_aborts_the_exchange() -> None:
    """If the request body breaks (client left), the upstream connection is aborted."""
    env = Env()
    body = StreamBody(None)
    d = env.request(_get(method="POST", body=body))
    _proto, transport = env.accept()
    body.error(Failure(ConnectionLost("client went away")))
    _failure(d, ConnectionLost)
    assert transport.disconnecting


def test_full_upstream_socket_pauses_the_body_source() -> None:
    """The body writer is the transport's producer: pausing it pauses the body's source."""
    env = Env()
    calls: list[str] = []
    body = StreamBody(
        None, pause=lambda: calls.append("pause"), resume=lambda: calls.append("resume")
    )
    body.feed(b"x")
    env.request(_get(method="POST", body=body))
    _proto, transport = env.accept()
    assert transport.producer is not None and transport.streaming
    transport.producer.pauseProducing()
    transport.producer.resumeProducing()
    assert calls == ["pause", "resume"]


def test_slow_consumer_pauses_the_upstream_socket() -> None:
    """Pausing the response body pauses reading from the upstream, resuming resumes it."""
    env = Env()
    d = env.request()
    proto, transport = env.accept()
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
    body = _result(d).body
    body.pauseProducing()
    assert transport.producerState == "paused"
    body.resumeProducing()
    assert transport.producerState == "producing"


def test_stopping_the_response_body_drops_the_connection() -> None:
    """A consumer giving up on the body aborts the upstream connection."""
    env = Env()
    d = env.request()
    proto, transport = env.accept()
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
    _result(d).body.stopProducing()
    assert transport.disconnecting and env.pool.idle_count(ADDRESS) == 0


# timeouts, connect errors, cancellation ------------------------------------------------------


def test_connect_timeout() -> None:
    """No connection within connect_timeout fails with UpstreamTimeout('connect')."""
    env = Env()
    d = env.request(connect_timeout=2.0)
    env.reactor.advance(1.9)
    assert not d.called
    env.reactor.advance(0.2)
    err = _failure(d, UpstreamTimeout).value
    assert err.phase == "connect" and not err.request_sent


def test_tls_handshake_counts_against_connect_timeout() -> None:
    """A TCP connection whose TLS handshake does not finish in time is aborted."""
    env = Env()
    d = env.request(
        address=UpstreamAddress("10.0.0.1", 443, tls=True, server_name="example.com"),
        connect_timeout=1.0,
    )
    _proto, transport = env.accept()  # TLS wrapper: the handshake never completes here
    env.reactor.advance(1.1)
    assert _failure(d, UpstreamTimeout).value.phase == "connect"
    assert transport.disconnecting


def test_connection_refused() -> None:
    """A refused connection fails with UpstreamConnectError and nothing sent."""
    env = Env()
    d = env.request()
    factory = env.reactor.tcpClients[0][2]
    factory.clientConnectionFailed(None, Failure(ConnectionRefusedError()))
    err = _failure(d, UpstreamConnectError).value
    assert not err.request_sent


def test_read_timeout() -> None:
    """No response byte within read_timeout fails with UpstreamTimeout('read')."""
    env = Env()
    d = env.request(read_timeout=5.0)
    _proto, transport = env.accept()
    env.reactor.advance(4.9)
    assert not d.called
    env.reactor.advance(0.2)
    err = _failure(d, UpstreamTimeout).value
    assert err.phase == "read" and err.request_sent and transport.disconnecting


def test_read_timeout_counts_silence_not_total_time() -> None:
    """Bytes arriving keep the exchange alive; a silent gap of read_timeout mid-body fails the body."""
    env = Env()
    d = env.request(read_timeout=5.0)
    proto, _ = env.accept()
    env.reactor.advance(4)
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
    body = read_body(_result(d).body)
    for _ in range(3):
        env.reactor.advance(4)
        proto.dataReceived(b"x")
    assert not body.called
    env.reactor.advance(5.1)
    assert _failure(body, UpstreamTimeout).value.phase == "read"


def test_paused_body_does_not_time_out() -> None:
    """While the consumer holds the body paused, silence is not a read timeout."""
    env = Env()
    d = env.request(read_timeout=5.0)
    proto, transport = env.accept()
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
    body = _result(d).body
    body.pauseProducing()
    env.reactor.advance(30)
    assert not transport.disconnecting
    body.resumeProducing()
    proto.dataReceived(b"cd")
    assert _result(read_body(body)) == b"abcd"


def test_write_timeout() -> None:
    """A full upstream socket buffer for write_timeout fails with UpstreamTimeout('write')."""
    env = Env()
    body = StreamBody(None)
    d = env.request(_get(method="POST", body=body), write_timeout=3.0, read_timeout=1.0)
    _proto, transport = env.accept()
    body.feed(b"x" * 10)
    transport.producer.pauseProducing()
    env.reactor.advance(2)
    transport.producer.resumeProducing()  # progress: the timer restarts
    transport.producer.pauseProducing()
    env.reactor.advance(2.5)
    assert not d.called
    env.reactor.advance(1)
    err = _failure(d, UpstreamTimeout).value
    assert err.phase == "write" and err.request_sent


def test_slow_request_body_source_is_not_a_timeout() -> None:
    """A client slowly streaming the body is neither a write nor a read timeout."""
    env = Env()
    body = StreamBody(None)
    d = env.request(_get(method="POST", body=body), write_timeout=3.0, read_timeout=3.0)
    proto, _ = env.accept()
    for _ in range(5):
        env.reactor.advance(2.9)
        body.feed(b"x")
    body.end()
    proto.dataReceived(OK)
    assert _result(d).status == 200


def test_cancel_while_connecting() -> None:
    """Cancelling before the connection is made stops connecting."""
    env = Env()
    d = env.request()
    d.cancel()
    _failure(d, CancelledError)
    assert env.reactor.connectors[0].stoppedConnecting


def test_cancel_while_waiting_for_response() -> None:
    """Cancelling after the request was sent aborts the connection."""
    env = Env()
    d = env.request()
    proto, transport = env.accept()
    d.cancel()
    _failure(d, CancelledError)
    assert transport.disconnecting
    proto.dataReceived(OK)  # late bytes are ignored
    assert env.pool.idle_count(ADDRESS) == 0


def test_close_aborts_everything() -> None:
    """pool.close() aborts busy and idle connections and fires when they are gone."""
    env = Env()
    env.request()
    p1, t1 = env.accept()
    p1.dataReceived(OK)
    busy = env.request(address=UpstreamAddress("10.0.0.2", 80))
    p2, t2 = env.accept()
    done = env.pool.close()
    assert t1.disconnecting and t2.disconnecting and not done.called
    p1.connectionLost(Failure(ConnectionDone()))
    p2.connectionLost(Failure(ConnectionLost()))
    assert done.called
    _failure(busy, UpstreamClosed)


def test_consumer_stopping_during_last_chunk_does_not_pool_the_connection() -> None:
    """A body abandoned while its final bytes are being delivered never goes back to the pool."""
    env = Env()
    d = env.request()
    proto, transport = env.accept()
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
    body = _result(d).body

    class Quitter:
        def write(self, data: bytes) -> None:
            body.stopProducing()

        def finish(self) -> None:
            raise AssertionError("finished after stopping")

        def fail(self, reason: Failure) -> None:
            raise AssertionError("failed after stopping")

    body.start(Quitter())
    proto.dataReceived(b"abcd")
    assert transport.disconnecting and env.pool.idle_count(ADDRESS) == 0
