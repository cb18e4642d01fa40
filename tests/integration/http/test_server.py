"""The native server on real sockets at 127.0.0.1 (port 0)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import httptools
import pytest
import pytest_twisted
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import IPullProducer
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from kongtx.http.body import read_body
from kongtx.http.gateway_io import GatewayRequest
from kongtx.http.headers import Headers
from kongtx.http.server import HTTPServerFactory
from tests.support.runtime import rss_figure

#: Every test here runs with both parsers (httptools and the pure-Python one).
pytestmark = pytest.mark.usefixtures("http_parser")

TIMEOUT = 30


class Client(Protocol):
    """A raw client: writes bytes, parses responses with httptools, counts body bytes."""

    def __init__(self, keep_bodies: bool = True) -> None:
        self.keep_bodies = keep_bodies
        self.responses: list[dict[str, Any]] = []
        self.closed: Deferred[None] = Deferred()
        self._waiting: list[tuple[int, Deferred[None]]] = []
        self._parser = httptools.HttpResponseParser(self)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.responses.append(
            {"status": 0, "headers": {}, "body": bytearray(), "size": 0, "done": False}
        )

    def on_header(self, name: bytes, value: bytes) -> None:
        self.responses[-1]["headers"][name.decode().lower()] = value.decode()

    def on_headers_complete(self) -> None:
        self.responses[-1]["status"] = self._parser.get_status_code()

    def on_body(self, data: bytes) -> None:
        resp = self.responses[-1]
        resp["size"] += len(data)
        if self.keep_bodies:
            resp["body"] += data

    def on_message_complete(self) -> None:
        self.responses[-1]["done"] = True
        done = sum(1 for r in self.responses if r["done"])
        for count, d in list(self._waiting):
            if done >= count:
                self._waiting.remove((count, d))
                d.callback(None)

    # Twisted
    def dataReceived(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def connectionLost(self, reason: Failure) -> None:
        for _, d in self._waiting:
            d.errback(reason)
        self._waiting = []
        self.closed.callback(None)

    def responses_done(self, count: int) -> Deferred[None]:
        """Fire once ``count`` responses are complete."""
        from twisted.internet import reactor

        d: Deferred[None] = Deferred()
        if sum(1 for r in self.responses if r["done"]) >= count:
            d.callback(None)
        else:
            self._waiting.append((count, d))
        return d.addTimeout(TIMEOUT, reactor)


@implementer(IPullProducer)
class Upload:
    """Writes a chunked or fixed-size body of ``total`` bytes as the socket drains."""

    def __init__(self, transport: Any, total: int, chunked: bool, chunk: int = 65536) -> None:
        self.transport = transport
        self.left = total
        self.chunked = chunked
        self.piece = b"x" * chunk

    def resumeProducing(self) -> None:
        if self.left <= 0:
            return
        piece = self.piece if self.left >= len(self.piece) else self.piece[: self.left]
        self.left -= len(piece)
        if self.chunked:
            self.transport.writeSequence([b"%x\r\n" % len(piece), piece, b"\r\n"])
        else:
            self.transport.write(piece)
        if self.left <= 0:
            if self.chunked:
                self.transport.write(b"0\r\n\r\n")
            self.transport.unregisterProducer()

    def stopProducing(self) -> None:
        self.left = 0


class ServerHarness:
    """A listening factory plus the clients connected to it, all closed at teardown."""

    def __init__(self, handler: Callable[[GatewayRequest, Any], Any], **options: Any) -> None:
        from twisted.internet import reactor

        self.factory = HTTPServerFactory(handler, reactor, **options)
        self.port = reactor.listenTCP(0, self.factory, interface="127.0.0.1")
        self.clients: list[Client] = []

    async def connect(self, keep_bodies: bool = True) -> Client:
        from twisted.internet import reactor

        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port.getHost().port)
        client = await connectProtocol(endpoint, Client(keep_bodies))
        self.clients.append(client)
        return client

    async def close(self) -> None:
        for client in self.clients:
            if client.transport is not None and not client.closed.called:
                client.transport.loseConnection()
                await client.closed
        await self.port.stopListening()


@pytest_twisted.async_yield_fixture
async def harness_factory() -> AsyncIterator[Callable[..., ServerHarness]]:
    made: list[ServerHarness] = []

    def make(handler: Callable[[GatewayRequest, Any], Any], **options: Any) -> ServerHarness:
        h = ServerHarness(handler, **options)
        made.append(h)
        return h

    yield make
    for h in made:
        await h.close()


class _Forward:
    """A body consumer writing into a ResponseWriter."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    def finish(self) -> None:
        self.writer.finish()

    def fail(self, reason: Failure) -> None:
        self.writer.abort()


def echo(request: GatewayRequest, writer: Any) -> None:
    """Stream the request body back (chunked unless the request had a length)."""
    headers = Headers([("X-Method", request.method), ("X-Target", request.target)])
    body = request.body
    if body is None:
        headers.add("Content-Length", "0")
        writer.write_head(200, headers)
        writer.finish()
        return
    if body.length is not None:
        headers.add("Content-Length", str(body.length))
    writer.write_head(200, headers)
    writer.register_producer(body)
    body.start(_Forward(writer))


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest_twisted.ensureDeferred
async def test_echo_keep_alive(harness_factory: Callable[..., ServerHarness]) -> None:
    """Bodies are echoed back over one keep-alive connection, fixed-length and chunked."""
    server = harness_factory(echo)
    client = await server.connect()
    client.transport.write(b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
    await client.responses_done(1)
    client.transport.write(
        b"PUT /b?x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    )
    await client.responses_done(2)
    first, second = client.responses
    assert (first["status"], bytes(first["body"]), first["headers"]["x-target"]) == (
        200,
        b"hello",
        "/a",
    )
    assert second["headers"]["transfer-encoding"] == "chunked"
    assert (bytes(second["body"]), second["headers"]["x-method"]) == (b"abcdefg", "PUT")
    assert not client.closed.called


@pytest_twisted.ensureDeferred
async def test_echo_large_body_with_backpressure(
    harness_factory: Callable[..., ServerHarness],
) -> None:
    """An 8 MiB chunked body streams through and back intact."""
    server = harness_factory(echo)
    client = await server.connect(keep_bodies=False)
    total = 8 * 1024 * 1024
    client.transport.write(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    client.transport.registerProducer(Upload(client.transport, total, chunked=True), False)
    await client.responses_done(1)
    assert client.responses[0]["size"] == total


@pytest_twisted.ensureDeferred
async def test_pipelining_raw_socket(harness_factory: Callable[..., ServerHarness]) -> None:
    """Pipelined requests are answered in order; the second starts after the first finished."""
    writers: list[Any] = []
    first_started: Deferred[None] = Deferred()
    finished_before_second: list[bool] = []

    def handler(request: GatewayRequest, writer: Any) -> None:
        if request.target == "/1":
            writers.append(writer)
            first_started.callback(None)
        else:
            finished_before_second.append(writers[0].done)
            body = request.target.encode()
            writer.write_head(200, Headers([("Content-Length", str(len(body)))]))
            writer.write(body)
            writer.finish()

    server = harness_factory(handler)
    client = await server.connect()
    client.transport.write(
        b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\nGET /3 HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    await first_started
    writers[0].write_head(200, Headers([("Content-Length", "2")]))
    writers[0].write(b"/1")
    writers[0].finish()
    await client.responses_done(3)
    assert [bytes(r["body"]) for r in client.responses] == [b"/1", b"/2", b"/3"]
    assert finished_before_second == [True, True]


@rss_figure
@pytest_twisted.ensureDeferred
async def test_large_upload_bounded_memory(harness_factory: Callable[..., ServerHarness]) -> None:
    """A 200 MiB upload streams to a slow-starting consumer without growing memory."""
    total = 200 * 1024 * 1024
    stats = {"size": 0, "peak": 0, "calls": 0}

    class Counter:
        def __init__(self, writer: Any) -> None:
            self.writer = writer

        def write(self, data: bytes) -> None:
            stats["size"] += len(data)
            stats["calls"] += 1
            if stats["calls"] % 64 == 0:
                stats["peak"] = max(stats["peak"], _rss())

        def finish(self) -> None:
            body = str(stats["size"]).encode()
            self.writer.write_head(200, Headers([("Content-Length", str(len(body)))]))
            self.writer.write(body)
            self.writer.finish()

        def fail(self, reason: Failure) -> None:
            self.writer.abort()

    def handler(request: GatewayRequest, writer: Any) -> None:
        from twisted.internet import reactor

        # Start reading a little later: bytes arriving meanwhile must not pile up.
        reactor.callLater(0.2, request.body.start, Counter(writer))  # type: ignore[union-attr]

    server = harness_factory(handler)
    client = await server.connect()
    baseline = _rss()
    client.transport.write(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % total)
    client.transport.registerProducer(Upload(client.transport, total, chunked=False), False)
    await client.responses_done(1)
    assert bytes(client.responses[0]["body"]) == str(total).encode()
    assert stats["peak"] - baseline < 48 * 1024 * 1024


@pytest_twisted.ensureDeferred
async def test_reject_and_close_on_socket(harness_factory: Callable[..., ServerHarness]) -> None:
    """A smuggling attempt (CL+TE) gets 400 and the server closes the socket."""
    calls: list[GatewayRequest] = []
    server = harness_factory(lambda r, w: calls.append(r))
    client = await server.connect()
    client.transport.write(
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    await client.closed
    assert client.responses[0]["status"] == 400 and calls == []


@pytest_twisted.ensureDeferred
async def test_expect_continue_on_socket(harness_factory: Callable[..., ServerHarness]) -> None:
    """With Expect: 100-continue, the client gets 100 before it sends the body."""

    def handler(request: GatewayRequest, writer: Any) -> None:
        def reply(data: bytes) -> None:
            writer.write_head(200, Headers([("Content-Length", str(len(data)))]))
            writer.write(data)
            writer.finish()

        read_body(request.body).addCallback(reply)

    server = harness_factory(handler)
    client = await server.connect()
    client.transport.write(
        b"PUT / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    )
    await client.responses_done(1)
    assert client.responses[0]["status"] == 100
    client.transport.write(b"abc")
    await client.responses_done(2)
    assert bytes(client.responses[1]["body"]) == b"abc"


@pytest.mark.parametrize("unused", [None])
def test_module_imports_no_global_reactor(unused: None) -> None:
    """The server package does not import the global reactor."""
    import ast
    import pathlib

    import kongtx.http.server as pkg

    for path in pathlib.Path(pkg.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "twisted.internet":
                assert all(alias.name != "reactor" for alias in node.names), path
