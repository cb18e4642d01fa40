"""Worker processes: ``twistd -n kongtx`` with ``worker_processes = 2`` in a subprocess.

Which process proxied a request is found from the upstream's side: the peer
of each upstream connection is a socket of one kongtx process, identified
through ``/proc/net/tcp`` (its inode) and ``/proc/<pid>/fd``.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted

from kongtx.workers import ReusePortReactor
from tests.integration.worker_nodes import (
    DEADLINE,
    NEEDS_PROC,
    PROPAGATION,
    WORKERS,
    Node,
    Upstream,
    add_route,
    burst,
    children_of,
    fresh_request,
    listeners_on,
    pause,
    pid_of_connection,
    run_node,
    wait_for,
    wait_started,
)
from tests.integration.worker_nodes import upstream as upstream  # noqa: F401 - fixture

pytestmark = NEEDS_PROC


@pytest.fixture
def node(tmp_path: Path) -> Any:
    yield from run_node(tmp_path)


@pytest.fixture
def keyed_node(tmp_path: Path) -> Any:
    yield from run_node(tmp_path, plugins="key-auth")


# --------------------------------------------------------------------------- tests


def test_reuseport_reactor_binds_proxy_factories_on_one_port() -> None:
    """A child's ReusePortReactor binds the port its parent got, next to the parent's socket."""
    from twisted.internet import reactor

    from kongtx.http.server import HTTPServerFactory

    factory = HTTPServerFactory(lambda req, writer: None, reactor)
    parent = ReusePortReactor(reactor)
    first = parent.listenTCP(0, factory, interface="127.0.0.1")
    port = first.getHost().port
    child = ReusePortReactor(reactor, [port])
    second = child.listenTCP(0, factory, interface="127.0.0.1")
    try:
        assert parent.bound == [("127.0.0.1", port)]
        assert child.bound == [("127.0.0.1", port)]
        assert second.getHost().port == port
        assert listeners_on(port) == 2
    finally:
        first.stopListening()
        second.stopListening()


@pytest_twisted.ensureDeferred
async def test_reuseport_reactor_serves_tls_on_shared_port(tmp_path: Path) -> None:
    """listenSSL with a proxy factory shares the port and completes a TLS request."""
    from twisted.internet import reactor
    from twisted.internet.ssl import CertificateOptions
    from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, readBody

    from kongtx import tls
    from kongtx.http.headers import Headers
    from kongtx.http.server import HTTPServerFactory

    def handler(request: Any, writer: Any) -> None:
        writer.write_head(200, Headers([("Content-Length", "2")]))
        writer.write(b"ok")
        writer.finish()

    cert, key = tls.ensure_default_certificate(str(tmp_path))
    contexts = tls.SNIServerContextFactory(lambda name: None, cert, key)
    factory = HTTPServerFactory(handler, reactor, scheme="https")
    parent = ReusePortReactor(reactor)
    first = parent.listenSSL(0, factory, contexts, interface="127.0.0.1")
    port = first.getHost().port
    second = ReusePortReactor(reactor, [port]).listenSSL(
        0, factory, contexts, interface="127.0.0.1"
    )
    try:
        assert listeners_on(port) == 2

        class _NoVerify(BrowserLikePolicyForHTTPS):
            def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
                return CertificateOptions(verify=False)

        agent = Agent(reactor, contextFactory=_NoVerify())
        for _ in range(4):
            resp = await agent.request(b"GET", f"https://127.0.0.1:{port}/".encode())
            assert resp.code == 200
            assert await readBody(resp) == b"ok"
    finally:
        await first.stopListening()
        await second.stopListening()


@pytest_twisted.ensureDeferred
async def test_both_workers_serve_and_follow_admin_changes(node: Node, upstream: Upstream) -> None:
    """Both processes proxy requests, and a route added later works in each within seconds."""
    from twisted.internet import reactor

    await wait_started(node)
    upstream.candidates = node.workers()
    assert len(upstream.candidates) == WORKERS, node.log_text()
    await add_route(node, upstream, "first", "/first")
    # the child learns of the route through the parent's change events
    start = reactor.seconds()
    while True:
        statuses = await burst(node, "/first", 20)
        if all(s == 200 for s in statuses):
            break
        assert reactor.seconds() - start < PROPAGATION, statuses
        await pause(0.1)
    upstream.served.clear()
    statuses = await burst(node, "/first", 200)
    assert statuses == [200] * 200
    pids = [pid for pid, _path in upstream.served]
    assert None not in pids
    assert set(pids) == upstream.candidates, {p: pids.count(p) for p in set(pids)}

    # a change made through the Admin API after the start reaches every worker
    await add_route(node, upstream, "second", "/second")
    upstream.served.clear()
    changed_at = reactor.seconds()
    while True:
        statuses = await burst(node, "/second", 40)
        if all(s == 200 for s in statuses):
            break
        assert reactor.seconds() - changed_at < PROPAGATION, statuses
        await pause(0.1)
    served_second = {pid for pid, path in upstream.served if path == "/second"}
    assert served_second == upstream.candidates


@pytest_twisted.ensureDeferred
async def test_deleted_key_stops_in_every_worker_within_a_second(
    keyed_node: Node, upstream: Upstream
) -> None:
    """A key cached by both processes stops authenticating in both within a second of its
    deletion (the parent relays the change event, which carries the row, to the child)."""
    from twisted.internet import reactor

    node = keyed_node
    await wait_started(node)
    upstream.candidates = node.workers()
    await add_route(node, upstream, "keyed", "/keyed")
    admin = f"http://127.0.0.1:{node.admin}"
    code, body = await fresh_request(
        "POST", f"{admin}/routes/{await _route_id(admin)}/plugins", {"name": "key-auth"}
    )
    assert code == 201, body
    assert (await fresh_request("POST", f"{admin}/consumers", {"username": "alice"}))[0] == 201
    code, body = await fresh_request("POST", f"{admin}/consumers/alice/key-auth", {"key": "k1"})
    assert code == 201, body
    key = {"apikey": "k1"}
    start = reactor.seconds()
    while True:
        upstream.served.clear()
        statuses = await burst(node, "/keyed", 40, key)
        served = {pid for pid, _path in upstream.served}
        if statuses == [200] * 40 and served == upstream.candidates:
            break  # both processes authenticated k1 (and cached it)
        assert reactor.seconds() - start < PROPAGATION, statuses
        await pause(0.1)
    assert (await fresh_request("DELETE", f"{admin}/key-auths/k1"))[0] == 204
    deleted_at = reactor.seconds()
    while True:
        statuses = await burst(node, "/keyed", 20, key)
        if statuses == [401] * 20:
            break
        assert reactor.seconds() - deleted_at < 1.0, statuses
    statuses = await burst(node, "/keyed", 100, key)
    assert statuses == [401] * 100


async def _route_id(admin: str) -> str:
    code, body = await fresh_request("GET", f"{admin}/routes")
    assert code == 200, body
    return str(json.loads(body)["data"][0]["id"])


@pytest_twisted.ensureDeferred
async def test_killed_worker_is_restarted(node: Node, upstream: Upstream) -> None:
    """A child killed with SIGKILL is replaced by a new process that serves the current config."""
    await wait_started(node)
    (child,) = children_of(node.proc.pid)
    await add_route(node, upstream, "svc", "/svc")
    os.kill(child, signal.SIGKILL)
    new = await wait_for(lambda: children_of(node.proc.pid) - {child}, "a replacement worker", node)
    assert len(new) == 1
    await wait_for(lambda: listeners_on(node.proxy) == WORKERS, "the new worker to listen", node)
    upstream.candidates = node.workers()
    statuses = await burst(node, "/svc", 60)
    assert statuses == [200] * 60
    assert new <= {pid for pid, _path in upstream.served}


async def _server_status(node: Node) -> dict[str, int]:
    code, body = await fresh_request("GET", f"http://127.0.0.1:{node.admin}/status")
    assert code == 200, body
    return dict(json.loads(body)["server"])


@pytest_twisted.ensureDeferred
async def test_status_counts_every_workers_connections(node: Node) -> None:
    """/status adds up the connections and requests of all worker processes, as nginx does."""
    from tests.integration.harness import raw_connect

    await wait_started(node)
    base = await _server_status(node)
    clients = []
    holders: set[int | None] = set()
    while len(clients) < 40 and (len(clients) < 12 or len(holders - {node.proc.pid}) == 0):
        client = await raw_connect(node.proxy)
        clients.append(client)
        local = client.transport.getHost().port
        holder = await wait_for(
            lambda local=local: pid_of_connection(node.proxy, local, node.workers()) or 0,
            "the connection to be accepted",
            node,
        )
        holders.add(holder)
    assert holders - {node.proc.pid}, "no connection reached the child worker"
    opened = len(clients)

    async def check(want: Any) -> dict[str, int]:
        from twisted.internet import reactor

        deadline = reactor.seconds() + DEADLINE
        while True:
            server = await _server_status(node)
            if want(server) or reactor.seconds() > deadline:
                return server
            await pause(0.1)

    server = await check(lambda s: s["connections_waiting"] >= base["connections_waiting"] + opened)
    assert server["connections_waiting"] == base["connections_waiting"] + opened, (base, server)
    assert server["connections_accepted"] >= base["connections_accepted"] + opened
    for client in clients:
        client.transport.loseConnection()
    server = await check(lambda s: s["connections_active"] == base["connections_active"])
    assert server["connections_active"] == base["connections_active"], (base, server)

    before = server["total_requests"]
    statuses = await burst(node, "/nothing", 40)  # 404s, each on a new connection
    assert statuses == [404] * 40
    server = await check(lambda s: s["total_requests"] >= before + 40)
    assert server["total_requests"] == before + 40, (before, server)


@pytest_twisted.ensureDeferred
async def test_sigterm_stops_every_worker(node: Node) -> None:
    """SIGTERM to the parent stops the children too, and the parent exits cleanly."""
    await wait_started(node)
    pids = node.workers()
    node.proc.send_signal(signal.SIGTERM)
    await wait_for(lambda: node.proc.poll() is not None, "the parent to exit", node, exit_ok=True)
    # twistd re-raises the signal it stopped on once shut down cleanly
    assert node.proc.returncode in (0, -signal.SIGTERM), node.log_text()
    assert "Server Shut Down" in node.log_text()
    alive = set()
    for pid in pids - {node.proc.pid}:
        try:
            os.kill(pid, 0)
            alive.add(pid)
        except ProcessLookupError:
            pass
    assert not alive, json.dumps(sorted(alive))
