"""Streaming, broken upstreams, balancing, health and upgrades through the real gateway."""

from __future__ import annotations

import resource

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from zope.interface import implementer

from tests.integration.harness import gateway_and_upstream
from tests.support.runtime import rss_figure
from tests.support.upstream import start_upstream

GIB = 1 << 30


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest_twisted.async_yield_fixture
async def env(tmp_path, frontend):
    async with gateway_and_upstream(tmp_path, frontend, plugins="off") as pair:
        yield pair


async def _route(gw, upstream, path="/", **route):
    reply = await gw.admin(
        "POST", "/services", {"name": "echo", "url": f"http://127.0.0.1:{upstream.port}"}
    )
    assert reply.status == 201, reply
    reply = await gw.admin("POST", "/services/echo/routes", {"paths": [path], **route})
    assert reply.status == 201, reply


class _Counting(Protocol):
    """Reads a whole HTTP response without keeping it: counts body bytes after the head."""

    def __init__(self) -> None:
        self.head = b""
        self.body_bytes = 0
        self.done: Deferred[None] = Deferred()
        self.peak_rss = 0.0
        self._chunks = 0

    def dataReceived(self, data: bytes) -> None:
        if not self.head or b"\r\n\r\n" not in self.head:
            self.head += data
            if b"\r\n\r\n" in self.head:
                self.head, _, rest = self.head.partition(b"\r\n\r\n")
                self.head += b"\r\n\r\n"
                self.body_bytes += len(rest)
            return
        self.body_bytes += len(data)
        self._chunks += 1
        if self._chunks % 512 == 0:
            self.peak_rss = max(self.peak_rss, _rss_mib())

    def connectionLost(self, reason) -> None:
        self.done.callback(None)


@implementer(IPushProducer)
class _Uploader:
    """Streams ``total`` bytes into a transport, honouring its back-pressure."""

    def __init__(self, transport, total: int, reader: _Counting) -> None:
        self.transport = transport
        self.left = total
        self.paused = False
        self.reader = reader
        self.chunk = b"u" * 65536
        self.sent = 0

    def resumeProducing(self) -> None:
        self.paused = False
        while not self.paused and self.left > 0:
            n = min(self.left, len(self.chunk))
            self.transport.write(self.chunk[:n])
            self.left -= n
            self.sent += 1
            if self.sent % 512 == 0:
                self.reader.peak_rss = max(self.reader.peak_rss, _rss_mib())
        if self.left == 0:
            self.transport.unregisterProducer()

    def pauseProducing(self) -> None:
        self.paused = True

    def stopProducing(self) -> None:
        self.left = 0


async def _connect(port: int) -> _Counting:
    proto = _Counting()
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), proto)
    return proto


@rss_figure
@pytest_twisted.ensureDeferred
async def test_one_gib_download_streams_with_bounded_memory(env):
    """A 1 GiB response passes through while the process RSS stays bounded."""
    gw, upstream = env
    await _route(gw, upstream)
    before = _rss_mib()
    proto = await _connect(gw.node.port_of("proxy"))
    proto.transport.write(b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % GIB)
    await proto.done
    assert proto.head.startswith(b"HTTP/1.1 200")
    assert proto.body_bytes == GIB
    assert proto.peak_rss - before < 64, (before, proto.peak_rss)


@rss_figure
@pytest_twisted.ensureDeferred
async def test_one_gib_upload_streams_with_bounded_memory(env):
    """A 1 GiB upload (request_buffering off) passes through with bounded RSS."""
    gw, upstream = env
    await _route(gw, upstream, request_buffering=False)
    before = _rss_mib()
    proto = await _connect(gw.node.port_of("proxy"))
    proto.transport.write(
        b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % GIB
    )
    uploader = _Uploader(proto.transport, GIB, proto)
    proto.transport.registerProducer(uploader, True)
    uploader.resumeProducing()
    await proto.done
    assert proto.head.startswith(b"HTTP/1.1 200"), proto.head
    assert upstream.requests[-1].body_length == GIB
    assert proto.peak_rss - before < 64, (before, proto.peak_rss)


@pytest_twisted.ensureDeferred
async def test_buffered_upload_is_spooled_and_forwarded(env):
    """With request_buffering (the default) a 20 MiB body is read first, then forwarded whole."""
    gw, upstream = env
    await _route(gw, upstream)
    payload = b"b" * (20 << 20)
    reply = await gw.proxy("POST", "/upload", data=payload)
    assert reply.status == 200
    assert reply.json["received"] == len(payload)


@pytest_twisted.ensureDeferred
async def test_upstream_closing_mid_response_cuts_the_client(env):
    """An upstream that dies mid-body makes the gateway drop the client connection (no fake success)."""
    gw, upstream = env
    await _route(gw, upstream)
    proto = await _connect(gw.node.port_of("proxy"))
    proto.transport.write(b"GET /close-mid-body HTTP/1.1\r\nHost: x\r\n\r\n")
    await proto.done
    assert proto.head.startswith(b"HTTP/1.1 200")
    assert b"Content-Length: 1000" in proto.head or b"content-length: 1000" in proto.head.lower()
    assert proto.body_bytes < 1000


@pytest_twisted.ensureDeferred
async def test_chunked_response_and_head(env):
    """Chunked upstream bodies pass through; HEAD gets headers only."""
    gw, upstream = env
    await _route(gw, upstream)
    reply = await gw.proxy("GET", "/chunked?count=5")
    assert reply.status == 200
    assert reply.body == b"".join(b"chunk %d\n" % i for i in range(5))
    head = await gw.proxy("HEAD", "/bytes/100")
    assert head.status == 200
    assert head.body == b""
    assert head.header("content-length") == "100"


@pytest_twisted.ensureDeferred
async def test_retries_move_to_another_target(env):
    """A dead target is skipped: with retries, every request lands on the live one."""
    gw, upstream = env
    assert (await gw.admin("POST", "/upstreams", {"name": "pool.test"})).status == 201
    assert (
        await gw.admin("POST", "/upstreams/pool.test/targets", {"target": "127.0.0.1:1"})
    ).status == 201
    reply = await gw.admin(
        "POST", "/upstreams/pool.test/targets", {"target": f"127.0.0.1:{upstream.port}"}
    )
    assert reply.status == 201
    await gw.admin(
        "POST", "/services", {"name": "lb", "host": "pool.test", "port": 80, "retries": 3}
    )
    await gw.admin("POST", "/services/lb/routes", {"paths": ["/lb"]})
    for _ in range(6):
        reply = await gw.proxy("GET", "/lb")
        assert reply.status == 200, reply
    assert len(upstream.requests) == 6
    # Kong sends the chosen target's host (and port) as Host, not the upstream name.
    assert all(r.headers.get("host") == f"127.0.0.1:{upstream.port}" for r in upstream.requests)


@pytest_twisted.ensureDeferred
async def test_target_goes_unhealthy_and_comes_back(env):
    """Passive checks take a failing target out; the Admin API's healthy endpoint brings it back."""
    gw, upstream = env
    other = await start_upstream(reactor)
    try:
        up = {"name": "hc.test", "healthchecks": {"passive": {"unhealthy": {"http_failures": 1}}}}
        assert (await gw.admin("POST", "/upstreams", up)).status == 201, "upstream"
        bad = f"127.0.0.1:{upstream.port}"
        good = f"127.0.0.1:{other.port}"
        for target in (bad, good):
            assert (
                await gw.admin("POST", "/upstreams/hc.test/targets", {"target": target})
            ).status == 201
        await gw.admin("POST", "/services", {"name": "hc", "host": "hc.test", "retries": 0})
        await gw.admin("POST", "/services/hc/routes", {"paths": ["/"]})
        # /status/500 on either target counts a failure for whichever answered it.
        statuses = [(await gw.proxy("GET", "/status/500")).status for _ in range(2)]
        assert statuses == [500, 500]
        health = (await gw.admin("GET", "/upstreams/hc.test/health")).json
        states = {t["target"]: t["health"] for t in health["data"]}
        assert states == {bad: "UNHEALTHY", good: "UNHEALTHY"}
        reply = await gw.proxy("GET", "/", headers={"Accept": "application/json"})
        assert reply.status == 503
        assert reply.json["message"] == "failure to get a peer from the ring-balancer"
        assert (await gw.admin("PUT", f"/upstreams/hc.test/targets/{good}/healthy")).status == 204
        before = len(other.requests)
        for _ in range(3):
            assert (await gw.proxy("GET", "/")).status == 200
        assert len(other.requests) == before + 3
        health = (await gw.admin("GET", "/upstreams/hc.test/health")).json
        assert {t["target"]: t["health"] for t in health["data"]}[good] == "HEALTHY"
        unknown = await gw.admin("PUT", f"/upstreams/hc.test/targets/{good}/10.9.9.9:1/healthy")
        assert unknown.status == 404
    finally:
        await other.stop()


class _WS(Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.got: Deferred[None] | None = None
        self.want = b""

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        if self.got is not None and self.want in self.data:
            got, self.got = self.got, None
            got.callback(None)

    def expect(self, marker: bytes) -> Deferred[None]:
        self.want = marker
        self.got = Deferred()
        if marker in self.data:
            got, self.got = self.got, None
            got.callback(None)
        return self.got.addTimeout(5, reactor) if self.got else _fired()


def _fired() -> Deferred[None]:
    d: Deferred[None] = Deferred()
    d.callback(None)
    return d


@pytest_twisted.ensureDeferred
async def test_websocket_upgrade_is_spliced(env):
    """A 101 upgrade passes through and raw bytes flow both ways."""
    gw, upstream = env
    await _route(gw, upstream)
    proto = _WS()
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", gw.node.port_of("proxy")), proto)
    proto.transport.write(
        b"GET /ws?greet=hello HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await proto.expect(b"hello")
    assert proto.data.startswith(b"HTTP/1.1 101")
    proto.transport.write(b"ping-through-gateway")
    await proto.expect(b"ping-through-gateway")
    proto.transport.loseConnection()
