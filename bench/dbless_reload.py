"""The longest reactor stall while a DB-less node takes a new configuration by ``POST /config``.

Starts a node with ``database = off`` in this process, loads a configuration of
``--services`` services (one route each) and ``--consumers`` consumers (one key-auth
credential each), then posts a second one of the same size while a 1 ms timer
records how late the reactor runs it. Prints the POST's duration and the longest
and 99th-percentile timer lateness (the time the proxy could not serve anything).

    python bench/dbless_reload.py [--services 10000 --consumers 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from declarative_import import make_document  # noqa: E402 - after the path set-up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--consumers", type=int, default=100000)
    args = parser.parse_args()

    import treq
    from twisted.internet import task
    from twisted.internet.defer import Deferred

    from kongtx.config import load_config
    from kongtx.service import build_gateway

    first = json.dumps(make_document(args.services, args.consumers, 0))
    second = json.dumps({"config": json.dumps(make_document(args.services, args.consumers, 1))})
    overrides = {
        "prefix": tempfile.mkdtemp(prefix="kongtx-bench-"),
        "database": "off",
        "declarative_config_string": first,
        "proxy_listen": "127.0.0.1:0",
        "admin_listen": "127.0.0.1:0",
    }
    config = load_config(None, env={}, overrides=overrides, search_default_paths=False)

    async def run(reactor: Any) -> None:
        started = time.perf_counter()
        node = build_gateway(reactor, config)
        node.startService()
        await node.ready
        print(
            f"start with {args.services} services/routes, {args.consumers} consumers+keys: "
            f"{time.perf_counter() - started:.1f} s"
        )
        late: list[float] = []
        last = [time.perf_counter()]

        def tick() -> None:
            now = time.perf_counter()
            late.append(now - last[0] - 0.001)
            last[0] = now

        timer = task.LoopingCall(tick)
        timer.clock = reactor
        timer.start(0.001)
        url = f"http://127.0.0.1:{node.port_of('admin')}/config"
        posted = time.perf_counter()
        response = await treq.post(
            url, data=second.encode(), headers={"Content-Type": "application/json"}
        )
        await response.content()
        took = time.perf_counter() - posted
        timer.stop()
        late.sort()
        print(f"POST /config: {response.code} in {took:.1f} s")
        print(
            f"reactor lateness: max {late[-1] * 1000:.0f} ms, "
            f"p99 {late[int(len(late) * 0.99)] * 1000:.1f} ms over {len(late)} ticks"
        )
        await node.stopService()

    task.react(lambda reactor: Deferred.fromCoroutine(run(reactor)))


if __name__ == "__main__":
    main()
