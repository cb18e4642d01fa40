"""Router micro-benchmark: mean match time as the number of routes grows.

Usage: ``python bench/router_bench.py --routes 10000 [--requests 20000]``

Builds N routes (exact hosts with prefix paths, host-less prefixes, wildcard
hosts, host+method routes and a fixed handful of regex routes), then times
``Router.match`` for requests that hit and requests that miss, with the
recent-request cache off (every lookup computed) and on (repeated requests).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kongtx.http.headers import Headers
from kongtx.router import Router

SERVICES = {"svc": {"id": "svc", "enabled": True}}
REGEX_ROUTES = 8


def _route(rid: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": rid,
        "protocols": ["http", "https"],
        "methods": None,
        "hosts": None,
        "paths": None,
        "headers": None,
        "snis": None,
        "regex_priority": 0,
        "strip_path": True,
        "created_at": 0,
        "service": {"id": "svc"},
    }
    row.update(fields)
    return row


def build_routes(n: int) -> list[dict[str, Any]]:
    """N routes: 50% host+prefix, 20% prefix only, 15% wildcard host, 15% host+method."""
    routes = []
    for i in range(max(n - REGEX_ROUTES, 0)):
        kind = i % 20
        if kind < 10:
            routes.append(
                _route(
                    f"r{i}",
                    hosts=[f"api{i // 10}.example.com"],
                    paths=[f"/v1/res{i}"],
                    created_at=i,
                )
            )
        elif kind < 14:
            routes.append(_route(f"r{i}", paths=[f"/svc{i}/items"], created_at=i))
        elif kind < 17:
            routes.append(_route(f"r{i}", hosts=[f"*.tenant{i}.example.org"], created_at=i))
        else:
            routes.append(
                _route(f"r{i}", hosts=[f"m{i}.example.net"], methods=["GET"], created_at=i)
            )
    for j in range(min(REGEX_ROUTES, n)):
        routes.append(_route(f"re{j}", paths=[rf"~/regex{j}/(?<id>\d+)$"], created_at=j))
    return routes


def build_requests(n: int, count: int, rnd: random.Random) -> tuple[list, list]:
    """(hits, misses): request tuples (method, host, path)."""
    hits, misses = [], []
    limit = max(n - REGEX_ROUTES, 1)
    while len(hits) < count:
        i = rnd.randrange(limit)
        kind = i % 20
        if kind < 10:
            hits.append(("GET", f"api{i // 10}.example.com", f"/v1/res{i}/x"))
        elif kind < 14:
            hits.append(("GET", "any.example.com", f"/svc{i}/items/1"))
        elif kind < 17:
            hits.append(("GET", f"a.tenant{i}.example.org", "/anything"))
        else:
            hits.append(("GET", f"m{i}.example.net", "/"))
        if rnd.random() < 0.05:
            hits.append(("GET", "x.com", f"/regex{rnd.randrange(REGEX_ROUTES)}/12"))
    for _ in range(count):
        i = rnd.randrange(limit)
        misses.append(
            rnd.choice(
                [
                    ("GET", f"api{i // 10}.example.com", f"/v2/res{i}"),
                    ("GET", "nowhere.example.com", f"/svc{i}/other"),
                    ("POST", f"m{i}.example.net", "/"),
                    ("GET", f"tenant{i}.example.org", "/"),
                ]
            )
        )
    return hits[:count], misses


def time_requests(router: Router, requests: list, headers: Headers) -> float:
    """Mean microseconds per match over ``requests``."""
    match = router.match
    start = time.perf_counter()
    for method, host, path in requests:
        match(method, host, path, headers, "http")
    return (time.perf_counter() - start) / len(requests) * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    rnd = random.Random(args.seed)
    routes = build_routes(args.routes)
    start = time.perf_counter()
    uncached = Router(routes, SERVICES, cache_size=0)
    compile_s = time.perf_counter() - start
    cached = Router(routes, SERVICES)
    hits, misses = build_requests(args.routes, args.requests, rnd)
    headers = Headers([("Accept", "*/*")])

    # Sanity: the timed workload is what it claims to be.
    assert all(uncached.match(m, h, p, headers, "http") for m, h, p in hits[:500])
    assert not any(uncached.match(m, h, p, headers, "http") for m, h, p in misses[:500])

    hit_us = time_requests(uncached, hits, headers)
    miss_us = time_requests(uncached, misses, headers)
    hot = hits[:256]
    time_requests(cached, hot, headers)  # warm
    cached_us = time_requests(cached, hot * (args.requests // len(hot) or 1), headers)
    print(
        f"routes={args.routes} compile={compile_s:.2f}s "
        f"hit={hit_us:.2f}us miss={miss_us:.2f}us cached_hit={cached_us:.2f}us"
    )


if __name__ == "__main__":
    main()
