"""Proxied latency on an unchanged route while a DB-less node takes a new configuration by
``POST /config``.

Starts ``twistd -n kongtx`` with ``database = off`` (pinned to core 1, as ``bench/run``
lays processes out) serving a declarative file of ``--services`` services (one route
each, upstreams never called) and ``--consumers`` consumers (one key-auth credential
each), plus one ``unchanged`` route to a local nginx upstream (core 0). A client thread
requests ``/unchanged`` every ``--interval`` ms over one keep-alive connection for
``--seconds`` s with no change, then while a second configuration of the same size
(different upstreams and keys, the same ``unchanged`` route) is posted. Prints the
POST's duration and, for both periods, p50/p99/max proxied latency and non-200 answers.

    python bench/dbless_reload.py [--services 10000 --consumers 100000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time
from importlib.machinery import SourceFileLoader
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from declarative_import import make_document  # noqa: E402 - after the path set-up

run = SourceFileLoader("bench_run", os.path.join(ROOT, "bench", "run")).load_module()
scale = SourceFileLoader("bench_scale", os.path.join(ROOT, "bench", "scale.py")).load_module()


def document(services: int, consumers: int, generation: int, upstream: str) -> dict[str, Any]:
    """The bench's configuration: ``make_document`` plus the ``unchanged`` route."""
    doc = make_document(services, consumers, generation)
    doc["services"].append(
        {
            "name": "unchanged",
            "url": upstream,
            "routes": [{"name": "unchanged", "paths": ["/unchanged"]}],
        }
    )
    return doc


class Prober(threading.Thread):
    """Requests ``/unchanged`` every ``interval`` s, recording (start time, latency, status)."""

    def __init__(self, port: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.interval = interval
        self.samples: list[tuple[float, float, int]] = []
        self.running = True

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while self.running:
            started = time.monotonic()
            try:
                conn.request("GET", "/unchanged")
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                status = 0
            took = time.monotonic() - started
            self.samples.append((started, took, status))
            time.sleep(max(0.0, self.interval - took))

    def between(self, start: float, end: float) -> list[tuple[float, float, int]]:
        return [s for s in self.samples if start <= s[0] < end]


def report(name: str, samples: list[tuple[float, float, int]]) -> None:
    if not samples:
        print(f"{name}: no request completed")
        return
    latencies = [s[1] * 1000 for s in samples]
    bad = sum(1 for s in samples if s[2] != 200)
    print(
        f"{name}: {len(samples)} requests, p50 {scale.pct(latencies, 50):.1f} ms, "
        f"p99 {scale.pct(latencies, 99):.1f} ms, max {max(latencies):.0f} ms, non-200 {bad}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--consumers", type=int, default=100000)
    parser.add_argument("--seconds", type=float, default=5.0, help="baseline period")
    parser.add_argument("--interval", type=float, default=5.0, help="ms between probes")
    args = parser.parse_args()
    run.ensure_tools(False)
    upstream_port = run.free_port()
    run.start_upstream(upstream_port)
    upstream = f"http://127.0.0.1:{upstream_port}/"
    print(
        f"DB-less reload bench on {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    first = os.path.join(run._tmp, "first.json")
    with open(first, "w", encoding="utf-8") as fh:
        json.dump(document(args.services, args.consumers, 0, upstream), fh)
    second = json.dumps(
        {"config": json.dumps(document(args.services, args.consumers, 1, upstream))}
    ).encode()
    started = time.monotonic()
    node = scale.Node("dbless", "off", plugins="bundled", extra={"declarative_config": first})
    try:
        run.wait_http(f"{node.proxy}/unchanged", node.proc, node.log, timeout=900)
        print(
            f"start with {args.services} services/routes, {args.consumers} consumers+keys: "
            f"first proxied answer after {time.monotonic() - started:.1f} s",
            flush=True,
        )
        prober = Prober(node.port, args.interval / 1000)
        prober.start()
        time.sleep(1.0)  # warm the connection
        base_start = time.monotonic()
        time.sleep(args.seconds)
        posted = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", node.admin_port, timeout=900)
        conn.request("POST", "/config", body=second, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        done = time.monotonic()
        time.sleep(0.5)
        prober.running = False
        prober.join()
        print(f"POST /config: {resp.status} in {done - posted:.1f} s", flush=True)
        report("unchanged route, no change", prober.between(base_start, posted))
        report("unchanged route, during POST /config", prober.between(posted, done))
    finally:
        node.stop()


if __name__ == "__main__":
    main()
