"""Attacks on the proxy (issue 15, Security): each through both front-ends, real sockets."""

from __future__ import annotations

import time

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol

from tests.integration.harness import gateway_and_upstream, raw_connect, raw_exchange


@pytest_twisted.async_yield_fixture
async def env(tmp_path, frontend):
    async with gateway_and_upstream(tmp_path, frontend, plugins="off") as pair:
        yield pair


async def _service(gw, port: int, name: str = "raw") -> None:
    reply = await gw.admin("POST", "/services", {"name": name, "url": f"http://127.0.0.1:{port}"})
    assert reply.status == 201, reply


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


# -- 1. only WebSocket upgrades are forwarded -------------------------------------------


class _SwitchingUpstream(Protocol):
    """An upstream that answers 101 to any request, then echoes whatever arrives as a tunnel."""

    def __init__(self, heads: list[bytes], tunneled: list[bytes]) -> None:
        self.heads = heads
        self.tunneled = tunneled
        self.buffer = b""
        self.switched = False

    def dataReceived(self, data: bytes) -> None:
        if self.switched:
            self.tunneled.append(data)
            self.transport.write(b"TUNNELED " + data)
            return
        self.buffer += data
        if b"\r\n\r\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            self.heads.append(head)
            self.switched = True
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
            )
            if rest:
                self.dataReceived(rest)


class _SwitchingFactory(Factory):
    def __init__(self) -> None:
        self.heads: list[bytes] = []
        self.tunneled: list[bytes] = []

    def buildProtocol(self, addr):  # type: ignore[no-untyped-def]
        return _SwitchingUpstream(self.heads, self.tunneled)


@pytest.mark.parametrize(
    "upgrade", ["h2c", "websocket, h2c", "TLS/1.2", "websocketx"], ids=["h2c", "list", "tls", "x"]
)
@pytest_twisted.ensureDeferred
async def test_non_websocket_upgrade_never_tunnels(env, upgrade):
    """``Upgrade: h2c`` (any token but websocket) is not forwarded, and the 101 an upstream
    answers anyway is a 502: nothing sent after it reaches the upstream."""
    gw, _ = env
    factory = _SwitchingFactory()
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    try:
        await _service(gw, port.getHost().port)
        reply = await gw.admin("POST", "/services/raw/routes", {"paths": ["/open"]})
        assert reply.status == 201, reply
        answer = await raw_exchange(
            gw.node.port_of("proxy"),
            b"GET /open HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: " + upgrade.encode() + b"\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
            b"GET /admin-only HTTP/1.1\r\nHost: internal\r\n\r\n",
        )
        assert _status(answer) == 502, answer[:300]
        assert b"TUNNELED" not in answer
        (head,) = factory.heads
        assert b"\r\nupgrade:" not in head.lower() and b"http2-settings" not in head.lower()
        assert factory.tunneled == []
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_websocket_upgrade_still_spliced_case_insensitive(env):
    """``Upgrade: WebSocket`` is forwarded (as Kong's nginx map, any case) and the 101 spliced."""
    gw, _ = env
    factory = _SwitchingFactory()
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    try:
        await _service(gw, port.getHost().port)
        await gw.admin("POST", "/services/raw/routes", {"paths": ["/ws"]})
        proto = await raw_connect(gw.node.port_of("proxy"))
        proto.transport.write(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\r\n"
        )
        got: Deferred[None] = Deferred()

        def poll() -> None:
            if b"\r\n\r\n" in proto.data:
                got.callback(None)
            else:
                reactor.callLater(0.01, poll)

        poll()
        await got
        assert proto.data.startswith(b"HTTP/1.1 101")
        proto.transport.write(b"frame")
        timer = reactor.callLater(1, proto.transport.loseConnection)
        data = await proto.closed
        if timer.active():
            timer.cancel()
        assert b"TUNNELED frame" in data
        assert b"\r\nupgrade: websocket" in factory.heads[0].lower()
    finally:
        await port.stopListening()


# -- 2. linear-time route regexes -----------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_catastrophic_route_regex_does_not_stall(env):
    """``~/(a+)+$`` and a 28-byte path (about 2 s with a backtracking engine): matched in linear time, the proxy answers at once."""
    gw, upstream = env
    await _service(gw, upstream.port, "echo")
    reply = await gw.admin("POST", "/services/echo/routes", {"paths": [r"~/(a+)+$"]})
    assert reply.status == 201, reply
    started = time.perf_counter()
    reply = await gw.proxy("GET", "/" + "a" * 26 + "!")
    assert reply.status == 404
    assert time.perf_counter() - started < 0.5
    assert (await gw.proxy("GET", "/aaaa")).status == 200


# -- 6. Host validation and dot-segments above the root --------------------------------


@pytest.mark.parametrize(
    "host",
    [b"a b", b"a/b", b"u@a", b"", b"a\\b", b"a..b"],
    ids=["space", "slash", "userinfo", "empty", "backslash", "dots"],
)
@pytest_twisted.ensureDeferred
async def test_invalid_host_is_400_and_not_forwarded(env, host):
    """A Host nginx would refuse gets Kong's 400 and never becomes X-Forwarded-Host."""
    gw, upstream = env
    await _service(gw, upstream.port, "echo")
    await gw.admin("POST", "/services/echo/routes", {"paths": ["/"]})
    answer = await raw_exchange(
        gw.node.port_of("proxy"),
        b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nAccept: application/json\r\n\r\n",
    )
    assert _status(answer) == 400, answer[:300]
    assert b'"message":"Bad request"' in answer
    assert upstream.requests == []


@pytest_twisted.ensureDeferred
async def test_dot_segments_inside_the_root_still_resolve(env):
    """``/a/%2e%2e/b`` stays inside the root: resolved and forwarded as ``/b``; a valid Host
    with a port and a trailing dot is accepted."""
    gw, upstream = env
    await _service(gw, upstream.port, "echo")
    await gw.admin("POST", "/services/echo/routes", {"paths": ["/"]})
    reply = await gw.proxy("GET", "/a/%2e%2e/b", headers={"Host": "api.example.:8000"})
    assert reply.status == 200, reply
    assert reply.json["path"] == "/b"
    assert (await gw.proxy("GET", "/%2e%2e/x")).status == 400
    assert len(upstream.requests) == 1


# -- 9. RFC 9112 strictness where it allows ---------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5 \t\r\n\r\nhello",
        b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n",
    ],
    ids=["cl_trailing_ows", "cl_in_trailer"],
)
@pytest_twisted.ensureDeferred
async def test_valid_framing_is_accepted(env, payload):
    """Trailing whitespace after a Content-Length value is OWS, and a Content-Length in a
    chunked trailer is dropped: both requests are proxied with their body."""
    gw, upstream = env
    await _service(gw, upstream.port, "echo")
    await gw.admin("POST", "/services/echo/routes", {"paths": ["/"]})
    answer = await raw_exchange(gw.node.port_of("proxy"), payload, wait=1.0)
    assert _status(answer) == 200, answer[:300]
    (request,) = upstream.requests
    assert request.body == b"hello"


# -- 4. bounded upstream response heads -------------------------------------------------


class _HeadUpstream(Protocol):
    """Answers every request with a response head of ``mode``: ``huge`` (1 MiB of headers)
    or ``endless`` (one header line that never ends, written as fast as it is read)."""

    def __init__(self, factory: _HeadFactory) -> None:
        self.factory = factory
        self.started = False

    def dataReceived(self, data: bytes) -> None:
        if self.started or b"\r\n\r\n" not in data:
            return
        self.started = True
        if self.factory.mode == "huge":
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(1024))
                + b"\r\n"
            )
        else:
            self.transport.write(b"HTTP/1.1 200 OK\r\nX-Endless: ")
            self._more()

    def _more(self) -> None:
        if self.factory.lost is None and self.factory.sent < 64 << 20:
            self.transport.write(b"v" * 65536)
            self.factory.sent += 65536
            reactor.callLater(0, self._more)

    def connectionLost(self, reason=None) -> None:  # type: ignore[no-untyped-def]
        self.factory.lost = self.factory.sent


class _HeadFactory(Factory):
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sent = 0
        self.lost: int | None = None

    def buildProtocol(self, addr):  # type: ignore[no-untyped-def]
        return _HeadUpstream(self)


@pytest.mark.parametrize("mode", ["huge", "endless"])
@pytest_twisted.ensureDeferred
async def test_oversized_upstream_head_is_kong_502(env, mode):
    """A 1 MiB response head, or one that never ends, is not relayed: Kong's 502, and the
    gateway drops the upstream connection after at most the limit plus one read."""
    gw, _ = env
    factory = _HeadFactory(mode)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    try:
        await _service(gw, port.getHost().port)
        reply = await gw.admin("POST", "/services/raw/routes", {"paths": ["/"]})
        assert reply.status == 201, reply
        reply = await gw.proxy("GET", "/", headers={"Accept": "application/json"})
        assert reply.status == 502, reply
        assert reply.json["message"] == "An invalid response was received from the upstream server"
        if mode == "endless":
            assert factory.lost is not None and factory.lost < 8 << 20, factory.sent
    finally:
        await port.stopListening()


# -- 8. connection handling -----------------------------------------------------------------


def _listen_backlog(port: int) -> int:
    """The backlog of the listening socket on ``port`` (ss: Send-Q of a LISTEN socket)."""
    import subprocess

    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[2])


@pytest_twisted.ensureDeferred
async def test_listen_backlog_is_511_unless_configured(tmp_path, frontend):
    """Listeners (proxy, TLS proxy, Admin API) get nginx's backlog of 511, not Twisted's 50;
    ``backlog=N`` sets it per listener."""
    from tests.integration.harness import start_gateway

    gw = await start_gateway(
        tmp_path, frontend, plugins="off", proxy_listen="127.0.0.1:0, 127.0.0.1:0 ssl backlog=1024"
    )
    try:
        assert _listen_backlog(gw.node.port_of("proxy")) == 511
        assert _listen_backlog(gw.node.port_of("proxy_ssl")) == 1024
        assert _listen_backlog(gw.node.port_of("admin")) == 511
    finally:
        await gw.stop()
