"""rate-limiting ``local`` with ``worker_processes = 2``: one exact limit for the whole node."""

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

from tests.integration.test_workers import (
    DEADLINE,
    Node,
    Upstream,
    _http,
    _route,
    _started,
    run_node,
)
from tests.integration.test_workers import upstream as upstream  # noqa: F401 - fixture

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
    await _started(node)
    upstream.candidates = node.workers()
    assert len(upstream.candidates) == 2, node.log_text()
    await _route(node, upstream, "rl", "/rl")
    code, body = await _http(
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
