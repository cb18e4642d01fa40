"""Two gateway nodes sharing one PostgreSQL database: a change on one reaches the other's proxy."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest_twisted
from twisted.internet import reactor, task

from tests.integration.harness import start_gateway
from tests.pg import create_database, drop_database
from tests.support.upstream import start_upstream


def _bootstrap(settings: dict[str, object]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["KONGTX_DATABASE"] = "postgres"
    for name, value in settings.items():
        if value is not None:
            env[f"KONGTX_{name.upper()}"] = str(value)
    return subprocess.run(
        [sys.executable, "-m", "kongtx.cli", "migrations", "bootstrap"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest_twisted.ensureDeferred
async def test_change_on_node_a_is_proxied_by_node_b_within_a_second(tmp_path):
    """`kongtx migrations bootstrap`, then node A's Admin API write routes on node B in < 1 s."""
    db = create_database("kongtx_cluster")
    upstream = await start_upstream(reactor)
    nodes = []
    try:
        done = _bootstrap(db.settings)
        assert done.returncode == 0, done.stdout + done.stderr
        pg = {k: str(v) for k, v in db.settings.items() if v is not None}
        # Polling is set far away: only LISTEN/NOTIFY can deliver the change in time.
        for name in ("a", "b"):
            nodes.append(
                await start_gateway(
                    tmp_path / name,
                    database="postgres",
                    plugins="off",
                    db_update_frequency="30",
                    **pg,
                )
            )
        node_a, node_b = nodes
        started = reactor.seconds()
        reply = await node_a.request(
            "POST",
            node_a.admin_url + "/services",
            json_body={"name": "shared", "url": f"http://127.0.0.1:{upstream.port}"},
        )
        assert reply.status == 201, reply
        reply = await node_a.request(
            "POST", node_a.admin_url + "/services/shared/routes", json_body={"paths": ["/shared"]}
        )
        assert reply.status == 201, reply
        while True:
            snapshot = node_b.node.snapshots.current
            if any(r.get("paths") == ["/shared"] for r in snapshot.routes.values()):
                break
            assert reactor.seconds() - started < 1.0, (
                "node B did not see the change within a second"
            )
            await task.deferLater(reactor, 0.01, lambda: None)
        seen = await node_b.request("GET", node_b.admin_url + "/services/shared")
        assert seen.status == 200
        proxied = await node_b.proxy("GET", "/shared/x")
        assert proxied.status == 200, proxied
        assert proxied.json["path"] == "/x"
    finally:
        for node in nodes:
            await node.stop()
        await upstream.stop()
        drop_database(db)
