"""Throughput of the native server front-end, measured with wrk.

Run: ``python bench/server_bench.py [seconds]`` (needs ``wrk``: ``apt-get install -y wrk``),
or ``python bench/server_bench.py --memory [N]`` for the server's own CPU cost per request:
requests fed to :class:`HTTPServerProtocol` on a ``StringTransport`` (no sockets, no
reactor), a keep-alive GET and a POST with a 1 KiB body, best of 5 runs.

Each server runs in its own process pinned to core 1 (``taskset -c 1``); wrk runs
on core 0 with ``-c 50 -t 1``. Servers, all answering ``200`` with a fixed
12-byte body:

* ``bare``: a bare Twisted protocol writing one canned response per read (the floor);
* ``kongtx``: :class:`kongtx.http.server.HTTPServerFactory` with a trivial handler;
* ``twisted.web``: a ``Site`` with a leaf ``Resource`` (what we replace).

Figures drift on shared machines: compare the ratios, not the absolute numbers.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

BODY = b"Hello world\n"
CANNED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
    b"Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n" + BODY
)
MODES = ("bare", "kongtx", "twisted.web")


def serve(mode: str) -> None:
    """Listen on 127.0.0.1 (port chosen by the OS), print the port, run forever."""
    from twisted.internet import epollreactor

    epollreactor.install()
    from twisted.internet import reactor
    from twisted.internet.protocol import Factory, Protocol

    if mode == "bare":

        class Canned(Protocol):
            def dataReceived(self, data: bytes) -> None:
                self.transport.write(CANNED)

        factory = Factory.forProtocol(Canned)
    elif mode == "kongtx":
        from kongtx.http.headers import Headers
        from kongtx.http.server import HTTPServerFactory

        def handler(request, writer):  # type: ignore[no-untyped-def]
            writer.write_head(
                200, Headers([("Content-Type", "text/plain"), ("Content-Length", "12")])
            )
            writer.write(BODY)
            writer.finish()

        factory = HTTPServerFactory(handler, reactor)
    else:
        from twisted.web.resource import Resource
        from twisted.web.server import Site

        class Hello(Resource):
            isLeaf = True

            def render_GET(self, request):  # type: ignore[no-untyped-def]
                request.setHeader(b"content-type", b"text/plain")
                return BODY

        factory = Site(Hello())
        factory.log = lambda request: None  # type: ignore[method-assign]
    port = reactor.listenTCP(0, factory, interface="127.0.0.1", backlog=1024)
    print(port.getHost().port, flush=True)
    reactor.run()


def in_memory(n: int, post: bool) -> float:
    """CPU seconds for ``n`` keep-alive requests through the server protocol alone (no sockets)."""
    from twisted.internet.task import Clock
    from twisted.internet.testing import StringTransport

    from kongtx.http.body import read_body
    from kongtx.http.headers import Headers
    from kongtx.http.server import HTTPServerFactory

    headers = Headers([("Content-Type", "text/plain"), ("Content-Length", "12")])

    def handler(request, writer):  # type: ignore[no-untyped-def]
        if request.body is not None:
            read_body(request.body)
        writer.write_head(200, headers)
        writer.write(BODY)
        writer.finish()

    common = b"Host: bench.local\r\nUser-Agent: wrk\r\nAccept: */*\r\nX-Forwarded-For: 10.0.0.1\r\n"
    if post:
        request = (
            b"POST /bench HTTP/1.1\r\n" + common + b"Content-Length: 1024\r\n\r\n" + b"x" * 1024
        )
    else:
        request = b"GET /bench?q=1 HTTP/1.1\r\n" + common + b"\r\n"
    proto = HTTPServerFactory(handler, Clock()).buildProtocol(None)  # type: ignore[arg-type]
    transport = StringTransport()
    proto.makeConnection(transport)
    feed = proto.dataReceived
    clear = transport.clear
    for _ in range(200):  # warm-up
        feed(request)
    clear()
    start = time.process_time()  # CPU time: other processes on the machine do not count
    for _ in range(n):
        feed(request)
        clear()
    elapsed = time.process_time() - start
    assert not transport.disconnecting
    return elapsed


def memory_main(n: int) -> None:
    print(f"{n} keep-alive requests through the server protocol, in memory, CPU µs/request:")
    for label, post in (("GET", False), ("POST 1 KiB", True)):
        best = min(in_memory(n, post) for _ in range(5))
        print(f"  {label:<12} {best * 1e6 / n:7.2f}   (best of 5)")


def run_wrk(port: int, seconds: int) -> dict[str, str]:
    """Run wrk on core 0 and pull requests/s and latency percentiles from its report."""
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "0",
            "wrk",
            "-c",
            "50",
            "-t",
            "1",
            "-d",
            f"{seconds}s",
            "--latency",
            f"http://127.0.0.1:{port}/bench",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = {"rps": re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.MULTILINE)
        result[f"p{pct}"] = m.group(1) if m else "?"
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
    result["errors"] = errors.group(0) if errors else ""
    return result


def main(seconds: int) -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    results = {}
    for mode in MODES:
        server = subprocess.Popen(
            ["taskset", "-c", "1", sys.executable, os.path.abspath(__file__), "--serve", mode],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            port = int(server.stdout.readline())  # type: ignore[union-attr]
            run_wrk(port, 1)  # warm-up
            results[mode] = run_wrk(port, seconds)
        finally:
            server.terminate()
            server.wait()
    floor = float(results["bare"]["rps"])
    print(f"{'server':<12} {'req/s':>10} {'p50':>9} {'p99':>9} {'vs bare':>8}")
    for mode, r in results.items():
        print(
            f"{mode:<12} {float(r['rps']):>10.0f} {r['p50']:>9} {r['p99']:>9} "
            f"{float(r['rps']) / floor:>8.2f} {r['errors']}"
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
    elif len(sys.argv) >= 2 and sys.argv[1] == "--memory":
        memory_main(int(sys.argv[2]) if len(sys.argv) > 2 else 20000)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
