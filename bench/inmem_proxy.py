"""The whole proxied request path in memory: CPU cost per request without sockets.

Usage::

    python bench/inmem_proxy.py [--plugins none|d|noop10] [-n 20000] [--profile out.prof]
    valgrind --tool=callgrind python bench/inmem_proxy.py -n 2000   # instruction counts

A real node (embedded SQLite store in a temp prefix, configured through its
DAO like the Admin API does) serves requests through the native server
protocol and the upstream pool exactly as under ``twistd``, but both
connections are in-memory transports: the client's request bytes are handed
to the server protocol, the upstream connection gets the canned answer of
``bench/run``'s nginx upstream. No system call, no reactor turn per request,
so the figure is the Python cost of the path (server parsing, gateway core,
plugins, client) and repeats within a few percent even on a loaded machine.

``--plugins d`` is bench/run's (d) (key-auth, rate-limiting local, http-log
batched, prometheus); ``noop10`` is (g): ten plugins on the route that do
nothing (``bench/noop_plugins``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: ``--root DIR`` (first argument): measure the kongtx of another checkout (A/B comparisons).
if len(sys.argv) > 2 and sys.argv[1] == "--root":
    sys.path.insert(0, os.path.abspath(sys.argv[2]))
    del sys.argv[1:3]
else:
    sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench", "noop_plugins"))
NOOP_NAMES = tuple(f"bench-noop-{index}" for index in range(10))

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
BODY = (
    b"kongtx bench upstream: a fixed plain-text response body of one hundred bytes,"
    b" the same every time.\n"
)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 05 Dec 2026 07:00:00 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n" % len(BODY)
) + BODY
API_KEY = "bench-secret-key"


class _Transport:
    """An in-memory TCP transport: records writes, accepts every call a protocol makes."""

    def __init__(self, port: int) -> None:
        from twisted.internet.address import IPv4Address

        self.written: list[bytes] = []
        self.peer = IPv4Address("TCP", "127.0.0.1", 40000)
        self.host = IPv4Address("TCP", "127.0.0.1", port)
        self.producer: Any = None
        self.closed = False
        self.disconnecting = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def writeSequence(self, seq: list[bytes]) -> None:
        self.written.extend(seq)

    def getPeer(self) -> Any:
        return self.peer

    def getHost(self) -> Any:
        return self.host

    def setTcpNoDelay(self, on: bool) -> None:
        pass

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def loseConnection(self) -> None:
        self.closed = True

    def abortConnection(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = b"".join(self.written)
        self.written.clear()
        return data


class _Reactor:
    """The node's reactor, but TCP connections to the upstream land on in-memory transports."""

    def __init__(self, real: Any, upstream_port: int) -> None:
        self._real = real
        self.seconds = real.seconds
        self.callLater = real.callLater
        self.upstream_port = upstream_port
        self.connections: list[tuple[Any, _Transport]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def connectTCP(
        self, host: str, port: int, factory: Any, timeout: float = 30, bindAddress: Any = None
    ) -> Any:
        if port != self.upstream_port:
            return self._real.connectTCP(host, port, factory, timeout, bindAddress)
        from twisted.internet.address import IPv4Address

        proto = factory.buildProtocol(IPv4Address("TCP", host, port))
        transport = _Transport(port)
        self.connections.append((proto, transport))
        proto.makeConnection(transport)
        return None


class _Collector:
    """http-log's collector, in this process: answers 200 to every POST (a few us per batch)."""

    @staticmethod
    def listen(reactor: Any) -> int:
        from twisted.internet.protocol import Factory, Protocol

        class Answer(Protocol):
            def dataReceived(self, data: bytes) -> None:
                for _ in range(data.count(b"POST ")):
                    self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

        port = reactor.listenTCP(0, Factory.forProtocol(Answer), interface="127.0.0.1")
        return int(port.getHost().port)


async def _configure(node: Any, plugins: str) -> dict[str, str]:
    from kongtx.schema import registry

    dao = node.dao
    service = await dao.insert(
        registry.get("services"), {"name": "bench", "url": "http://127.0.0.1:9/"}
    )
    route = await dao.insert(
        registry.get("routes"), {"name": "bench", "paths": ["/"], "service": {"id": service["id"]}}
    )
    headers: dict[str, str] = {}
    plugin_entity = registry.get("plugins")
    if plugins == "d":
        consumer = await dao.insert(registry.get("consumers"), {"username": "bench"})
        await dao.insert(
            registry.get("keyauth_credentials"),
            {"key": API_KEY, "consumer": {"id": consumer["id"]}},
        )
        await dao.insert(plugin_entity, {"name": "key-auth"})
        await dao.insert(
            plugin_entity,
            {"name": "rate-limiting", "config": {"policy": "local", "second": 100_000_000}},
        )
        await dao.insert(
            plugin_entity,
            {
                "name": "http-log",
                "config": {
                    "http_endpoint": f"http://127.0.0.1:{_Collector.listen(node.reactor)}/log",
                    "queue": {"max_batch_size": 100, "max_coalescing_delay": 1},
                },
            },
        )
        await dao.insert(
            plugin_entity,
            {
                "name": "prometheus",
                "config": {"status_code_metrics": True, "latency_metrics": True},
            },
        )
        headers["apikey"] = API_KEY
    elif plugins == "noop10":
        for name in NOOP_NAMES:
            await dao.insert(plugin_entity, {"name": name, "route": {"id": route["id"]}})
    return headers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plugins", default="none", choices=("none", "d", "noop10"))
    parser.add_argument("-n", type=int, default=20000, help="requests measured")
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--profile", help="write cProfile stats of the measured requests here")
    opts = parser.parse_args()

    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    from kongtx.config import load_config
    from kongtx.service import build_gateway

    prefix = tempfile.mkdtemp(prefix="kongtx-inmem-")
    names = {
        "none": "off",
        "d": "key-auth,rate-limiting,http-log,prometheus",
        "noop10": ",".join(NOOP_NAMES),
    }[opts.plugins]
    config = load_config(
        env={},
        overrides={
            "prefix": prefix,
            "database": "sqlite",
            "proxy_listen": "off",
            "admin_listen": "off",
            "status_listen": "off",
            "plugins": names,
            "proxy_access_log": "off",
            "log_level": "warn",
        },
        search_default_paths=False,
    )
    upstream_port = 9
    fake = _Reactor(reactor, upstream_port)
    node = build_gateway(fake, config)

    async def run() -> None:
        node.startService()
        await node.ready
        headers = await _configure(node, opts.plugins)
        await node.snapshots.settled()
        request = REQUEST
        if headers:
            extra = b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
            request = REQUEST[:-2] + extra + b"\r\n"
        proto = node._proxy_factory("http").buildProtocol(None)
        client = _Transport(8000)
        proto.makeConnection(client)

        def one() -> None:
            proto.dataReceived(request)
            conn, transport = fake.connections[-1]
            transport.written.clear()
            conn.dataReceived(RESPONSE)

        # The first request may wait on the store (the credential's first lookup).
        proto.dataReceived(request)
        for _ in range(200):
            if fake.connections:
                break
            waiter: Deferred[None] = Deferred()
            reactor.callLater(0.01, waiter.callback, None)
            await waiter
        fake.connections[-1][0].dataReceived(RESPONSE)
        for _ in range(opts.warmup):
            one()
        answer = client.take()
        if not answer.startswith(b"HTTP/1.1 200 "):
            sys.exit(f"unexpected answer: {answer[:300]!r}")
        import gc

        gc.collect()
        gc.freeze()
        profiler = None
        if opts.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        ok = 0
        started = time.process_time()
        for index in range(opts.n):
            one()
            if index % 100 == 99:
                ok += b"".join(client.written).count(b"HTTP/1.1 200 ")
                client.written.clear()
                # Let the reactor run what requests scheduled (log batches, timers).
                waiter = Deferred()
                reactor.callLater(0, waiter.callback, None)
                await waiter
        spent = time.process_time() - started
        ok += b"".join(client.written).count(b"HTTP/1.1 200 ")
        if ok != opts.n:
            sys.exit(f"only {ok} of {opts.n} requests answered 200")
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(opts.profile)
        print(
            f"plugins={opts.plugins}: {1e6 * spent / opts.n:.1f} us CPU per request "
            f"({opts.n} requests, {len(fake.connections)} upstream connection(s))"
        )
        print("last response head:")
        print(answer.split(b"\r\n\r\n")[0].decode("latin-1").split("HTTP/1.1 200", 2)[-1][:600])
        sys.stdout.flush()
        # The figures are out: don't let a slow shutdown (the store's thread, a log
        # batch to the in-memory collector) keep the process alive.
        stopped = node.stopService()
        stopped.addTimeout(5, reactor)
        stopped.addErrback(lambda _: None)
        await stopped

    from twisted.internet.task import react

    react(lambda _: Deferred.fromCoroutine(run()))


if __name__ == "__main__":
    main()
