"""The upstream client on real sockets against tests.support.upstream."""

from __future__ import annotations

import json
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol

from kongtx.http.body import BufferedBody, StreamBody, read_body
from kongtx.http.client import (
    UpstreamAddress,
    UpstreamClosed,
    UpstreamConnectError,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamRequest,
    UpstreamTimeout,
)
from kongtx.http.headers import Headers
from kongtx.http.splice import splice
from tests.support.runtime import rss_figure
from tests.support.upstream import TestTLS, start_upstream

#: Every test here runs with both parsers (httptools and the pure-Python one).
pytestmark = pytest.mark.usefixtures("http_parser")


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


@pytest_twisted.async_yield_fixture
async def upstream():
    up = await start_upstream(_reactor())
    yield up
    await up.stop()


@pytest_twisted.async_yield_fixture
async def pool():
    p = UpstreamPool(_reactor())
    yield p
    await p.close()


def _request(method: str, target: str, body: Any = None, **headers: str) -> UpstreamRequest:
    return UpstreamRequest(
        method, target, Headers([("Host", "upstream.test"), *headers.items()]), body
    )


async def _fetch(
    pool: UpstreamPool, upstream: Any, method: str, target: str, body: Any = None, **options: Any
) -> tuple[Any, bytes]:
    resp = await pool.request(
        _request(method, target, body), UpstreamAddress("127.0.0.1", upstream.port), **options
    )
    return resp, await read_body(resp.body)


# exchanges and keep-alive -----------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_echo_round_trip(pool, upstream):
    """Method, target, headers and a buffered body reach the upstream intact."""
    resp, data = await _fetch(pool, upstream, "POST", "/anything?x=1", BufferedBody(b"hello"))
    doc = json.loads(data)
    assert resp.status == 200 and resp.headers.get("content-type") == "application/json"
    assert (doc["method"], doc["path"], doc["query"]) == ("POST", "/anything", "x=1")
    assert doc["body"] == "hello" and doc["headers"]["content-length"] == "5"
    assert doc["headers"]["host"] == "upstream.test"


@pytest_twisted.ensureDeferred
async def test_sequential_requests_share_one_connection(pool, upstream):
    """Keep-alive: three sequential requests use one upstream connection."""
    for i in range(3):
        resp, _ = await _fetch(pool, upstream, "GET", f"/n/{i}")
        assert resp.status == 200
    assert upstream.connections == 1
    assert [r.connection for r in upstream.requests] == [1, 1, 1]
    assert pool.connections_opened == 1


@pytest_twisted.ensureDeferred
async def test_chunked_upload(pool, upstream):
    """A stream body without length goes chunked and arrives whole."""
    body = StreamBody(None)
    d = pool.request(_request("PUT", "/up", body), UpstreamAddress("127.0.0.1", upstream.port))
    body.feed(b"abc")
    body.feed(b"defg")
    body.end()
    resp = await d
    doc = json.loads(await read_body(resp.body))
    assert doc["body"] == "abcdefg" and doc["headers"]["transfer-encoding"] == "chunked"


@pytest_twisted.ensureDeferred
async def test_chunked_and_length_responses(pool, upstream):
    """Chunked and Content-Length responses are both read whole, on the same connection."""
    resp, data = await _fetch(pool, upstream, "GET", "/chunked?count=3")
    assert resp.body.length is None and data == b"chunk 0\nchunk 1\nchunk 2\n"
    resp, data = await _fetch(pool, upstream, "GET", "/bytes/1000")
    assert resp.body.length == 1000 and len(data) == 1000
    assert upstream.connections == 1


@pytest_twisted.ensureDeferred
async def test_head_and_no_body_statuses(pool, upstream):
    """HEAD, 204 and 304 responses have empty bodies and keep the connection."""
    resp, data = await _fetch(pool, upstream, "HEAD", "/bytes/1000")
    assert resp.headers.get("content-length") == "1000" and data == b""
    for code in (204, 304):
        resp, data = await _fetch(pool, upstream, "GET", f"/status/{code}")
        assert resp.status == code and data == b""
    resp, data = await _fetch(pool, upstream, "GET", "/bytes/10")
    assert len(data) == 10 and upstream.connections == 1


@pytest_twisted.ensureDeferred
async def test_interim_responses_skipped(pool, upstream):
    """100 Continue and 103 before the final response are skipped."""
    resp, data = await _fetch(
        pool,
        upstream,
        "POST",
        "/interim",
        BufferedBody(b"x"),
    )
    assert resp.status == 200 and json.loads(data)["body"] == "x"


@pytest_twisted.ensureDeferred
async def test_connection_close_is_honoured(pool, upstream):
    """After a Connection: close response the next request opens a new connection."""
    resp, _ = await _fetch(pool, upstream, "GET", "/?close=1")
    assert resp.headers.get("connection") == "close"
    await _fetch(pool, upstream, "GET", "/")
    assert upstream.connections == 2


@pytest_twisted.ensureDeferred
async def test_close_delimited_response(pool, upstream):
    """A response delimited by close is read whole and its connection is not reused."""
    _, data = await _fetch(pool, upstream, "GET", "/close-delimited")
    assert data == b"body until close"
    await _fetch(pool, upstream, "GET", "/")
    assert upstream.connections == 2


@pytest_twisted.ensureDeferred
async def test_max_requests(upstream):
    """A connection is retired after max_requests requests."""
    pool = UpstreamPool(_reactor(), max_requests=2)
    try:
        for _ in range(3):
            await _fetch(pool, upstream, "GET", "/")
        assert [r.connection for r in upstream.requests] == [1, 1, 2]
    finally:
        await pool.close()


@pytest_twisted.ensureDeferred
async def test_pool_size_limits_idle_connections(upstream):
    """Two concurrent requests open two connections; only pool_size of them stay idle."""
    pool = UpstreamPool(_reactor(), pool_size=1)
    try:
        lost = upstream.wait_for("connection_lost")
        await pool_pair(pool, upstream)
        assert upstream.connections == 2
        await lost
        assert pool.idle_count(UpstreamAddress("127.0.0.1", upstream.port)) == 1
        await _fetch(pool, upstream, "GET", "/")
        assert upstream.connections == 2
    finally:
        await pool.close()


async def pool_pair(pool: UpstreamPool, upstream: Any) -> None:
    from twisted.internet.defer import gatherResults

    address = UpstreamAddress("127.0.0.1", upstream.port)
    first = pool.request(_request("GET", "/delay/0.05"), address)
    second = pool.request(_request("GET", "/delay/0.05"), address)
    for resp in await gatherResults([first, second]):
        await read_body(resp.body)


@pytest_twisted.ensureDeferred
async def test_idle_timeout_closes_connection(upstream):
    """An idle pooled connection is closed after idle_timeout."""
    reactor = _reactor()
    pool = UpstreamPool(reactor, idle_timeout=0.2)
    try:
        await _fetch(pool, upstream, "GET", "/")
        released = reactor.seconds()
        await upstream.wait_for("connection_lost")
        assert reactor.seconds() - released >= 0.19
        assert pool.open_connections == 0
    finally:
        await pool.close()


@pytest_twisted.ensureDeferred
async def test_stale_pooled_connection_is_retried(pool, upstream):
    """A pooled connection the upstream dropped is detected or retried transparently."""
    await _fetch(pool, upstream, "GET", "/")
    upstream.drop_connections()
    resp, data = await _fetch(pool, upstream, "POST", "/again", BufferedBody(b"payload"))
    assert resp.status == 200 and json.loads(data)["body"] == "payload"
    assert upstream.connections == 2
    assert [r.path for r in upstream.requests] == ["/", "/again"]


@pytest_twisted.ensureDeferred
async def test_idle_connection_closed_by_upstream(pool, upstream):
    """After the upstream closes a kept-alive connection, the next request still succeeds."""
    lost = upstream.wait_for("connection_lost")
    await _fetch(pool, upstream, "GET", "/?drop=1")
    await lost
    resp, _ = await _fetch(pool, upstream, "GET", "/")
    assert resp.status == 200 and upstream.connections == 2


# errors and timeouts ------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_connection_refused(pool):
    """Connecting to a closed port fails with UpstreamConnectError."""
    port = _reactor().listenTCP(0, Factory.forProtocol(Protocol), interface="127.0.0.1")
    number = port.getHost().port
    await port.stopListening()
    with pytest.raises(UpstreamConnectError) as info:
        await pool.request(_request("GET", "/"), UpstreamAddress("127.0.0.1", number))
    assert not info.value.request_sent


@pytest_twisted.ensureDeferred
async def test_connect_timeout_covers_tls_handshake(pool):
    """A server that accepts but never completes the TLS handshake trips the connect timeout."""
    port = _reactor().listenTCP(0, Factory.forProtocol(Protocol), interface="127.0.0.1")
    try:
        address = UpstreamAddress(
            "127.0.0.1", port.getHost().port, tls=True, server_name="localhost"
        )
        with pytest.raises(UpstreamTimeout) as info:
            await pool.request(_request("GET", "/"), address, connect_timeout=0.3)
        assert info.value.phase == "connect"
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_read_timeout_waiting_for_headers(pool, upstream):
    """An upstream answering too late fails with UpstreamTimeout('read')."""
    with pytest.raises(UpstreamTimeout) as info:
        await _fetch(pool, upstream, "GET", "/delay/5", read_timeout=0.3)
    assert info.value.phase == "read" and info.value.request_sent


@pytest_twisted.ensureDeferred
async def test_read_timeout_in_body(pool, upstream):
    """An upstream going silent mid-body fails the body with UpstreamTimeout('read')."""
    resp = await pool.request(
        _request("GET", "/slow-body"), UpstreamAddress("127.0.0.1", upstream.port), read_timeout=0.3
    )
    assert resp.status == 200
    with pytest.raises(UpstreamTimeout):
        await read_body(resp.body)


@pytest_twisted.ensureDeferred
async def test_write_timeout(pool, upstream):
    """An upstream that stops reading the body fails with UpstreamTimeout('write')."""
    source = _PatternSource(1 << 30)
    with pytest.raises(UpstreamTimeout) as info:
        await pool.request(
            _request("POST", "/stall-upload", source.body),
            UpstreamAddress("127.0.0.1", upstream.port),
            write_timeout=0.5,
        )
    assert info.value.phase == "write" and info.value.request_sent
    assert 0 < source.sent < 1 << 30


@pytest_twisted.ensureDeferred
async def test_upstream_closing_mid_body(pool, upstream):
    """Closing in the middle of a Content-Length body errors the body stream."""
    resp = await pool.request(
        _request("GET", "/close-mid-body"), UpstreamAddress("127.0.0.1", upstream.port)
    )
    with pytest.raises(UpstreamClosed):
        await read_body(resp.body)


@pytest_twisted.ensureDeferred
async def test_invalid_response(pool, upstream):
    """Non-HTTP bytes from the upstream fail with UpstreamProtocolError."""
    with pytest.raises(UpstreamProtocolError):
        await _fetch(pool, upstream, "GET", "/bad-response")


# TLS ------------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_tls_upstream_with_keepalive(pool):
    """HTTPS upstreams work with a trusting creator, and connections are reused."""
    tls = TestTLS("localhost")
    up = await start_upstream(_reactor(), tls=tls.server_options)
    try:
        address = UpstreamAddress(
            "127.0.0.1", up.port, tls=True, server_name="localhost", tls_creator=tls.client_creator
        )
        for _ in range(2):
            resp = await pool.request(_request("GET", "/secure"), address)
            assert json.loads(await read_body(resp.body))["path"] == "/secure"
        assert up.connections == 1
        default = UpstreamAddress("127.0.0.1", up.port, tls=True, server_name="localhost")
        with pytest.raises(UpstreamConnectError):
            await pool.request(_request("GET", "/"), default)  # self-signed: not trusted by default
    finally:
        await pool.close()
        await up.stop()


# upgrade + splice -----------------------------------------------------------------------------


class _SocketChannel(Protocol):
    """A RawChannel over an accepted test socket (the 'client side' of a splice)."""

    def __init__(self) -> None:
        self._buffer: list[bytes] = []
        self._on_data: Any = None
        self._on_close: Any = None
        self._producer = False
        self.closed = False

    def dataReceived(self, data: bytes) -> None:
        if self._on_data is None:
            self._buffer.append(data)
        else:
            self._on_data(data)

    def connectionLost(self, reason: Any = None) -> None:
        self.closed = True
        if self._on_close is not None:
            self._on_close()

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def close(self) -> None:
        if self._producer:
            self._producer = False
            self.transport.unregisterProducer()
        self.transport.loseConnection()

    def set_receiver(self, on_data: Any, on_close: Any) -> None:
        self._on_data, self._on_close = on_data, on_close
        for chunk in self._buffer:
            on_data(chunk)
        self._buffer = []

    def pauseProducing(self) -> None:
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        self.transport.resumeProducing()

    def stopProducing(self) -> None:
        self.transport.abortConnection()

    def register_producer(self, producer: Any) -> None:
        self._producer = True
        self.transport.registerProducer(producer, True)


class _Peer(Protocol):
    """The browser: collects what comes back and signals when enough arrived."""

    def __init__(self) -> None:
        self.data = b""
        self.want: tuple[int, Deferred[bytes]] | None = None
        self.lost: Deferred[None] = Deferred()

    def wait(self, size: int) -> Deferred[bytes]:
        d: Deferred[bytes] = Deferred()
        self.want = (size, d)
        self._check()
        return d

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        self._check()

    def _check(self) -> None:
        if self.want and len(self.data) >= self.want[0]:
            d = self.want[1]
            self.want = None
            d.callback(self.data)

    def connectionLost(self, reason: Any = None) -> None:
        self.lost.callback(None)


@pytest_twisted.ensureDeferred
async def test_upgrade_and_splice_echo(pool, upstream):
    """A 101 hands back a raw channel; spliced to a client socket, bytes echo both ways."""
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

    reactor = _reactor()
    resp = await pool.request(
        _request(
            "GET",
            "/ws?greet=hello",
            Upgrade="websocket",
            Connection="Upgrade",
            **{"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"},
        ),
        UpstreamAddress("127.0.0.1", upstream.port),
    )
    assert resp.status == 101 and resp.upgraded is not None
    assert resp.headers.get("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    accepted: Deferred[_SocketChannel] = Deferred()

    class _Once(Factory):
        def buildProtocol(self, addr: Any) -> _SocketChannel:
            channel = _SocketChannel()
            reactor.callLater(0, accepted.callback, channel)
            return channel

    listener = reactor.listenTCP(0, _Once(), interface="127.0.0.1")
    try:
        peer = _Peer()
        await connectProtocol(
            TCP4ClientEndpoint(reactor, "127.0.0.1", listener.getHost().port), peer
        )
        client_side = await accepted
        done = splice(client_side, resp.upgraded)
        assert await peer.wait(5) == b"hello"  # sent right after the 101, buffered by the client
        peer.transport.write(b" ping")
        assert await peer.wait(10) == b"hello ping"
        peer.transport.loseConnection()
        await done
        await peer.lost
    finally:
        await listener.stopListening()


# streaming volume and back-pressure ----------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class _Counter:
    """A body consumer counting bytes, checking the pattern, sampling RSS."""

    def __init__(self) -> None:
        self.size = 0
        self.chunks = 0
        self.peak_rss = _rss()
        self.done: Deferred[int] = Deferred()
        self.first = b""

    def write(self, data: bytes) -> None:
        if not self.first:
            self.first = data[:512]
        self.size += len(data)
        self.chunks += 1
        if self.chunks % 512 == 0:
            self.peak_rss = max(self.peak_rss, _rss())

    def finish(self) -> None:
        self.done.callback(self.size)

    def fail(self, reason: Any) -> None:
        self.done.errback(reason)


class _PatternSource:
    """Feeds ``total`` bytes into a StreamBody only while it is not paused."""

    CHUNK = bytes(range(256)) * 256

    def __init__(self, total: int, length: int | None = -1) -> None:
        self.left = total
        self.sent = 0
        self.paused = False
        self.peak_rss = _rss()
        self.body = StreamBody(total if length == -1 else length, self._pause, self._resume)
        self.body.pauseProducing()  # start() resumes: feeding begins once the client consumes

    def _pause(self) -> None:
        self.paused = True

    def _resume(self) -> None:
        self.paused = False
        chunk = self.CHUNK
        while not self.paused and self.left > 0:
            piece = chunk if self.left >= len(chunk) else chunk[: self.left]
            self.left -= len(piece)
            self.sent += len(piece)
            self.body.feed(piece)
            if self.sent % (32 << 20) == 0:
                self.peak_rss = max(self.peak_rss, _rss())
        if self.left == 0 and not self.paused:
            self.left = -1
            self.body.end()


GIB = 1 << 30
RSS_BUDGET = 64 << 20


@rss_figure
@pytest_twisted.ensureDeferred
async def test_one_gib_download_in_bounded_memory(pool, upstream):
    """1 GiB streams from the upstream through the client without memory growth."""
    before = _rss()
    resp = await pool.request(
        _request("GET", f"/bytes/{GIB}"), UpstreamAddress("127.0.0.1", upstream.port)
    )
    counter = _Counter()
    resp.body.start(counter)
    assert await counter.done == GIB
    assert counter.first == bytes(range(256)) * 2
    assert max(counter.peak_rss, _rss()) - before < RSS_BUDGET


@rss_figure
@pytest_twisted.ensureDeferred
async def test_one_gib_upload_in_bounded_memory(pool, upstream):
    """1 GiB streams to the upstream (chunked) without memory growth, paced by the socket."""
    before = _rss()
    source = _PatternSource(GIB, length=None)
    resp = await pool.request(
        _request("POST", "/upload", source.body), UpstreamAddress("127.0.0.1", upstream.port)
    )
    assert json.loads(await read_body(resp.body)) == {"received": GIB}
    assert source.sent == GIB
    assert max(source.peak_rss, _rss()) - before < RSS_BUDGET


@pytest_twisted.ensureDeferred
async def test_slow_consumer_stops_the_upstream(pool, upstream):
    """With the response body paused, the client stops reading: little is buffered, the upstream waits."""
    from twisted.internet.task import deferLater

    reactor = _reactor()
    total = 256 << 20
    resp = await pool.request(
        _request("GET", f"/bytes/{total}"), UpstreamAddress("127.0.0.1", upstream.port)
    )
    resp.body.pauseProducing()
    # Nothing signals "nothing more happened": give the sockets a moment to fill up.
    await deferLater(reactor, 0.3, lambda: None)
    assert resp.body.buffered_size < 16 << 20
    counter = _Counter()
    resp.body.start(counter)  # resumes reading
    assert await counter.done == total
