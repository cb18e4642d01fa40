"""Sequential keep-alive requests through UpstreamPool to a local upstream.

Run: ``python bench/client_bench.py [N]`` (default 20000).

Prints four figures, all from the same process and run:

* ``floor``: a bare Twisted client protocol doing request/response round trips
  against a minimal upstream protocol (the reactor + loopback cost);
* ``pool``: the same round trips through :class:`UpstreamPool` (so
  ``pool - floor`` is the client's own cost per request);
* ``pool+test upstream``: through the pool to ``tests.support.upstream``
  (which parses requests too, so this one is slower).
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
    b"Date: Thu, 01 Jan 2026 00:00:00 GMT\r\nServer: bench\r\n\r\nok"
)
_REQUEST = b"GET /bench HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: bench\r\n\r\n"


def in_memory(n: int) -> float:
    """Client-only cost: requests and responses through a StringTransport, no sockets."""
    from twisted.internet.testing import MemoryReactorClock, StringTransport

    from kongtx.http.body import read_body
    from kongtx.http.client import UpstreamAddress, UpstreamPool, UpstreamRequest
    from kongtx.http.headers import Headers

    pool = UpstreamPool(MemoryReactorClock(), max_requests=n + 2)
    address = UpstreamAddress("127.0.0.1", 8080)
    headers = Headers(
        [
            ("Host", "bench.local"),
            ("User-Agent", "bench"),
            ("Accept", "*/*"),
            ("X-Forwarded-For", "127.0.0.1"),
            ("X-Forwarded-Proto", "http"),
        ]
    )
    d = pool.request(UpstreamRequest("GET", "/bench", headers), address)
    proto = pool.reactor.tcpClients[0][2].buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(_RESPONSE)
    start = time.process_time()  # CPU time: other processes on the machine do not count
    for _ in range(n):
        transport.clear()
        d = pool.request(UpstreamRequest("GET", "/bench", headers), address)
        proto.dataReceived(_RESPONSE)
        read_body(d.result.body)
    return time.process_time() - start


def main(n: int) -> None:
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred
    from twisted.internet.protocol import ClientFactory, Factory, Protocol

    from kongtx.http.body import read_body
    from kongtx.http.client import UpstreamAddress, UpstreamPool, UpstreamRequest
    from kongtx.http.headers import Headers
    from tests.support.upstream import start_upstream

    class FixedUpstream(Protocol):
        """Answers every read with one fixed response (requests are small, one per read)."""

        def dataReceived(self, data: bytes) -> None:
            self.transport.write(_RESPONSE)

    class PingClient(Protocol):
        def __init__(self, count: int, done: Deferred[float]) -> None:
            self.left = count
            self.done = done

        def connectionMade(self) -> None:
            self.start = time.perf_counter()
            self.transport.write(_REQUEST)

        def dataReceived(self, data: bytes) -> None:
            self.left -= 1
            if self.left == 0:
                self.done.callback(time.perf_counter() - self.start)
                self.transport.loseConnection()
            else:
                self.transport.write(_REQUEST)

    async def through_pool(pool: UpstreamPool, port: int, path: str, count: int) -> float:
        address = UpstreamAddress("127.0.0.1", port)
        headers = Headers(
            [
                ("Host", "bench.local"),
                ("User-Agent", "bench"),
                ("Accept", "*/*"),
                ("X-Forwarded-For", "127.0.0.1"),
                ("X-Forwarded-Proto", "http"),
            ]
        )
        start = time.perf_counter()
        for _ in range(count):
            resp = await pool.request(UpstreamRequest("GET", path, headers), address)
            await read_body(resp.body)
        return time.perf_counter() - start

    async def run() -> None:
        fixed = reactor.listenTCP(0, Factory.forProtocol(FixedUpstream), interface="127.0.0.1")
        port = fixed.getHost().port

        done: Deferred[float] = Deferred()
        factory = ClientFactory()
        factory.protocol = lambda: PingClient(n, done)
        reactor.connectTCP("127.0.0.1", port, factory)
        floor = await done

        pool = UpstreamPool(reactor)
        await through_pool(pool, port, "/bench", 500)  # warm-up
        pooled = await through_pool(pool, port, "/bench", n)

        upstream = await start_upstream(reactor)
        upstream.route(
            "/bench", lambda ex: ex.respond(200, b"ok", [("Content-Type", "text/plain")])
        )
        await through_pool(pool, upstream.port, "/bench", 500)
        full = await through_pool(pool, upstream.port, "/bench", n)

        print(f"{n} sequential keep-alive requests, µs/request:")
        print(f"  floor (bare protocols)      {floor * 1e6 / n:7.1f}")
        print(
            f"  pool -> fixed upstream      {pooled * 1e6 / n:7.1f}   "
            f"(client cost ≈ {(pooled - floor) * 1e6 / n:.1f})"
        )
        print(f"  pool -> tests.support       {full * 1e6 / n:7.1f}")
        best = min(in_memory(n) for _ in range(5))
        print(
            f"  client only, in memory      {best * 1e6 / n:7.1f}   "
            "(best of 5; no sockets, no reactor, no coroutine)"
        )
        print(f"  connections opened: {pool.connections_opened}")
        await pool.close()
        await upstream.stop()
        await fixed.stopListening()

    def go() -> None:
        d = Deferred.fromCoroutine(run())
        d.addErrback(lambda f: f.printTraceback())
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(go)
    reactor.run()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
