"""DB-less with worker processes: a configuration posted to the parent reaches every worker."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted

from tests.integration.worker_nodes import (
    PROPAGATION,
    WORKERS,
    Node,
    Upstream,
    burst,
    children_of,
    fresh_request,
    pause,
    run_node,
    wait_for,
    wait_started,
)
from tests.integration.worker_nodes import upstream as upstream  # noqa: F401 - fixture


def _config(upstream_port: int, name: str) -> dict[str, Any]:
    return {
        "_format_version": "3.0",
        "services": [
            {
                "name": name,
                "url": f"http://127.0.0.1:{upstream_port}/{name}",
                "routes": [{"name": name, "paths": [f"/{name}"]}],
            }
        ],
    }


@pytest.fixture
def dbless_node(tmp_path: Path, upstream: Upstream) -> Any:
    decl = tmp_path / "kong.json"
    decl.write_text(json.dumps(_config(upstream.port, "first")))
    yield from run_node(tmp_path, database="off", declarative_config=str(decl))


async def _everywhere(node: Node, upstream: Upstream, path: str) -> None:
    """Until every request to ``path`` succeeds; then each worker must have served it."""
    from twisted.internet import reactor

    start = reactor.seconds()
    while True:
        upstream.served.clear()
        statuses = await burst(node, path, 60)
        if all(s == 200 for s in statuses):
            break
        assert reactor.seconds() - start < PROPAGATION, (statuses, node.log_text())
        await pause(0.1)
    assert {pid for pid, _path in upstream.served} == upstream.candidates


@pytest_twisted.ensureDeferred
async def test_post_config_reaches_every_worker(dbless_node: Node, upstream: Upstream) -> None:
    node = dbless_node
    await wait_started(node)
    upstream.candidates = node.workers()
    assert len(upstream.candidates) == WORKERS, node.log_text()
    await _everywhere(node, upstream, "/first")  # the file, loaded by every process

    body = json.dumps({"config": json.dumps(_config(upstream.port, "second"))}).encode()
    import treq

    reply = await treq.post(
        f"http://127.0.0.1:{node.admin}/config",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert reply.code == 201, await reply.content()
    await _everywhere(node, upstream, "/second")
    assert set(await burst(node, "/first", 20)) == {404}

    # a worker that dies comes back with the configuration posted last, not the file
    (child,) = children_of(node.proc.pid)
    os.kill(child, signal.SIGKILL)
    await wait_for(
        lambda: len(children_of(node.proc.pid) - {child}) == WORKERS - 1,
        "a new worker",
        node,
    )
    await wait_started(node)  # every worker listening again
    upstream.candidates = node.workers()
    upstream.by_conn.clear()
    await _everywhere(node, upstream, "/second")
    code, _body = await fresh_request("GET", f"http://127.0.0.1:{node.proxy}/first")
    assert code == 404
