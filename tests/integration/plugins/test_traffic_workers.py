"""Traffic plugins with ``worker_processes = 2``: one exact local limit per node, proxy-cache purges reach every worker."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import deferLater
from twisted.web.client import HTTPConnectionPool

from tests.integration.worker_nodes import (
    DEADLINE,
    Node,
    Upstream,
    add_route,
    fresh_request,
    run_node,
    wait_started,
)
from tests.integration.worker_nodes import upstream as upstream  # noqa: F401 - fixture

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux /proc")


@pytest.fixture
def rl_node(tmp_path: Path) -> Any:
    yield from run_node(tmp_path, plugins="rate-limiting")


async def _get(node: Node, path: str, tenant: str) -> tuple[int, dict[str, list[str]]]:
    """One GET on a fresh connection (the kernel picks the worker)."""
    pool = HTTPConnectionPool(reactor, persistent=False)
    resp = await treq.get(
        f"http://127.0.0.1:{node.proxy}{path}", headers={"X-Tenant": tenant}, pool=pool, timeout=10
    )
    await resp.content()
    headers = {
        k.decode().lower(): [x.decode() for x in v] for k, v in resp.headers.getAllRawHeaders()
    }
    return resp.code, headers


@pytest_twisted.ensureDeferred
async def test_local_limit_is_exact_across_worker_processes(rl_node: Node, upstream: Upstream):
    """Against 50 per minute, 200 concurrent requests over 2 workers let exactly 50 through."""
    node = rl_node
    await wait_started(node)
    upstream.candidates = node.workers()
    assert len(upstream.candidates) == 2, node.log_text()
    await add_route(node, upstream, "rl", "/rl")
    code, body = await fresh_request(
        "POST",
        f"http://127.0.0.1:{node.admin}/services/rl/plugins",
        {
            "name": "rate-limiting",
            "config.minute": "50",
            "config.limit_by": "header",
            "config.header_name": "X-Tenant",
        },
    )
    assert code == 201, body
    # Every worker has the plugin once a probe (its own tenant, its own counter) shows the headers.
    deadline = time.monotonic() + DEADLINE
    probe = 0
    while True:
        results = await gatherResults(
            [Deferred.fromCoroutine(_get(node, "/rl", f"probe{probe}-{i}")) for i in range(10)]
        )
        probe += 1
        if all("x-ratelimit-limit-minute" in h for _c, h in results):
            break
        assert time.monotonic() < deadline, node.log_text()
        await deferLater(reactor, 0.1, lambda: None)
    left = 60 - time.time() % 60
    if left < 10:
        await deferLater(reactor, left + 0.05, lambda: None)
    results = await gatherResults(
        [Deferred.fromCoroutine(_get(node, "/rl", "burst")) for _ in range(200)]
    )
    codes = [c for c, _h in results]
    assert codes.count(200) == 50, node.log_text()
    assert codes.count(429) == 150
    # In waves of 10, the passing requests are served by both processes: one quota for both.
    upstream.served.clear()
    codes = []
    for _ in range(10):
        results = await gatherResults(
            [Deferred.fromCoroutine(_get(node, "/rl", "waves")) for _ in range(10)]
        )
        codes += [c for c, _h in results]
    assert codes.count(200) == 50, node.log_text()
    assert codes.count(429) == 50
    served_by = {pid for pid, _path in upstream.served}
    assert served_by == upstream.candidates, "the waves should reach both workers"


@pytest.fixture
def pc_node(tmp_path: Path) -> Any:
    yield from run_node(tmp_path, plugins="proxy-cache")


@pytest_twisted.ensureDeferred
async def test_proxy_cache_purge_reaches_every_worker(pc_node: Node, upstream: Upstream):
    """Each worker caches on its own; DELETE /proxy-cache empties both (one Miss each after)."""
    node = pc_node
    await wait_started(node)
    await add_route(node, upstream, "pc", "/pc")
    code, body = await fresh_request(
        "POST",
        f"http://127.0.0.1:{node.admin}/services/pc/plugins",
        {"name": "proxy-cache", "config.strategy": "memory", "config.content_type": "text/html"},
    )
    assert code == 201, body

    async def statuses(count: int) -> list[str]:
        results = await gatherResults(
            [Deferred.fromCoroutine(_get(node, "/pc", "t")) for _ in range(count)]
        )
        return [h.get("x-cache-status", ["-"])[0] for _c, h in results]

    # Until both workers have the plugin and an entry: a Miss in each, Hits afterwards.
    deadline = time.monotonic() + DEADLINE
    misses = 0
    while True:
        seen = await statuses(10)
        misses += seen.count("Miss")
        if misses >= 2 and all(s == "Hit" for s in seen):
            break
        assert time.monotonic() < deadline, (seen, node.log_text())
        await deferLater(reactor, 0.1, lambda: None)
    code, body = await fresh_request("DELETE", f"http://127.0.0.1:{node.admin}/proxy-cache")
    assert code == 204, body
    await deferLater(reactor, 0.5, lambda: None)  # the purge travels over the workers' pipes
    # One at a time (concurrent misses would all go upstream): one Miss per worker.
    after: list[str] = []
    for _ in range(30):
        after += await statuses(1)
    assert after.count("Miss") == 2, after
