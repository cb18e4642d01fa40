"""Worker processes: ``twistd -n kongtx`` with ``worker_processes = 2`` in a subprocess.

Which process proxied a request is found from the upstream's side: the peer
of each upstream connection is a socket of one kongtx process, identified
through ``/proc/net/tcp`` (its inode) and ``/proc/<pid>/fd``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted

from kongtx.workers import ReusePortReactor

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2
DEADLINE = 20.0  # seconds allowed for a start or a restart (safety net)
PROPAGATION = 3.0  # an Admin API change must reach every worker within this

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux /proc")


# --------------------------------------------------------------------------- /proc helpers


def _children(pid: int) -> set[int]:
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.add(int(entry))
    return out


def _tcp_rows() -> list[list[str]]:
    rows = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as fh:
            rows += [line.split() for line in fh.readlines()[1:]]
    return rows


def _port(addr: str) -> int:
    return int(addr.rsplit(":", 1)[1], 16)


def _listeners_on(port: int) -> int:
    """How many sockets LISTEN on ``port``."""
    return sum(1 for row in _tcp_rows() if row[3] == "0A" and _port(row[1]) == port)


def _pid_of_connection(local_port: int, remote_port: int, pids: set[int]) -> int | None:
    """The pid among ``pids`` holding the TCP socket ``local_port -> remote_port``."""
    inodes = {
        row[9]
        for row in _tcp_rows()
        if _port(row[1]) == local_port and _port(row[2]) == remote_port
    }
    targets = {f"socket:[{inode}]" for inode in inodes}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in targets:
                    return pid
            except OSError:
                continue
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- fixtures


class Upstream:
    """A twisted.web upstream recording which kongtx process sent each request."""

    def __init__(self) -> None:
        self.port = 0
        self.candidates: set[int] = set()
        self.by_conn: dict[int, int | None] = {}
        self.served: list[tuple[int | None, str]] = []

    def pid_for(self, peer_port: int) -> int | None:
        if peer_port not in self.by_conn:
            self.by_conn[peer_port] = _pid_of_connection(peer_port, self.port, self.candidates)
        return self.by_conn[peer_port]


@pytest.fixture
def upstream() -> Any:
    from twisted.internet import reactor
    from twisted.web.resource import Resource
    from twisted.web.server import Site

    up = Upstream()

    class Answer(Resource):
        isLeaf = True

        def render_GET(self, request: Any) -> bytes:
            pid = up.pid_for(request.getClientAddress().port)
            up.served.append((pid, request.path.decode()))
            return b"ok"

    site = Site(Answer())
    site.noisy = False
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    up.port = port.getHost().port
    yield up
    pytest_twisted.blockon(port.stopListening())


class Node:
    """The twistd process and its addresses."""

    def __init__(self, proc: subprocess.Popen[bytes], proxy: int, admin: int, log: Path) -> None:
        self.proc = proc
        self.proxy = proxy
        self.admin = admin
        self.log = log

    def workers(self) -> set[int]:
        return {self.proc.pid} | _children(self.proc.pid)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
def node(tmp_path: Path) -> Any:
    yield from run_node(tmp_path)


@pytest.fixture
def keyed_node(tmp_path: Path) -> Any:
    yield from run_node(tmp_path, plugins="key-auth")


def run_node(tmp_path: Path, plugins: str = "off", **settings: str) -> Any:
    """Start ``twistd -n kongtx`` with :data:`WORKERS` workers; yield its :class:`Node`, stop it.

    ``settings`` add to (or replace) the configuration file's lines.
    """
    proxy, admin = _free_port(), _free_port()
    conf = tmp_path / "kongtx.conf"
    values = {
        "prefix": str(tmp_path / "prefix"),
        "database": "sqlite",
        "proxy_listen": f"127.0.0.1:{proxy}",
        "admin_listen": f"127.0.0.1:{admin}",
        "worker_processes": str(WORKERS),
        "plugins": plugins,
        **settings,
    }
    conf.write_text("".join(f"{k} = {v}\n" for k, v in values.items()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KONG_", "KONGTX_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    log = tmp_path / "twistd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from twisted.scripts.twistd import run; run()",
                "-n",
                "--pidfile=",
                "kongtx",
                "-c",
                str(conf),
            ],
            cwd=str(tmp_path),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    n = Node(proc, proxy, admin, log)
    yield n
    pids = n.workers()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pid in pids - {proc.pid}:  # nothing may outlive the parent
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --------------------------------------------------------------------------- helpers


async def _pause(seconds: float) -> None:
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    await deferLater(reactor, seconds, lambda: None)


async def _until(
    check: Any, what: str, node: Node, timeout: float = DEADLINE, *, exit_ok: bool = False
) -> Any:
    """Poll ``check()`` every 0.1 s until it returns a true value (the parent must stay up)."""
    from twisted.internet import reactor

    deadline = reactor.seconds() + timeout
    while True:
        result = check()
        if result:
            return result
        if (not exit_ok and node.proc.poll() is not None) or reactor.seconds() > deadline:
            raise AssertionError(f"timed out waiting for {what}; log:\n{node.log_text()}")
        await _pause(0.1)


async def _http(
    method: str,
    url: str,
    data: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request on a fresh connection (so the kernel picks a worker each time)."""
    import treq
    from twisted.internet import reactor
    from twisted.web.client import HTTPConnectionPool

    pool = HTTPConnectionPool(reactor, persistent=False)
    resp = await treq.request(method, url, data=data, headers=headers, pool=pool, timeout=10)
    return resp.code, await resp.content()


async def _started(node: Node) -> None:
    await _until(lambda: _listeners_on(node.proxy) == WORKERS, "every worker to listen", node)

    async def admin_up() -> bool:
        try:
            return (await _http("GET", f"http://127.0.0.1:{node.admin}/"))[0] == 200
        except Exception:  # noqa: BLE001 - not listening yet
            return False

    from twisted.internet import reactor

    deadline = reactor.seconds() + DEADLINE
    while not await admin_up():
        assert reactor.seconds() < deadline, node.log_text()
        await _pause(0.1)


async def _route(node: Node, upstream: Upstream, name: str, path: str) -> None:
    admin = f"http://127.0.0.1:{node.admin}"
    code, body = await _http(
        "POST",
        f"{admin}/services",
        {"name": name, "url": f"http://127.0.0.1:{upstream.port}/{name}"},
    )
    assert code == 201, body
    code, body = await _http("POST", f"{admin}/services/{name}/routes", {"paths[]": path})
    assert code == 201, body


async def _burst(
    node: Node, path: str, count: int, headers: dict[str, str] | None = None
) -> list[int]:
    """``count`` proxied GETs, 10 at a time, each on a new connection; their statuses."""
    from twisted.internet.defer import gatherResults

    statuses: list[int] = []
    for _ in range(0, count, 10):
        batch = [_http_d("GET", f"http://127.0.0.1:{node.proxy}{path}", headers) for _ in range(10)]
        statuses += [code for code, _body in await gatherResults(batch)]
    return statuses


def _http_d(method: str, url: str, headers: dict[str, str] | None = None) -> Any:
    from twisted.internet.defer import Deferred

    return Deferred.fromCoroutine(_http(method, url, headers=headers))


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
        assert _listeners_on(port) == 2
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
        assert _listeners_on(port) == 2

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

    await _started(node)
    upstream.candidates = node.workers()
    assert len(upstream.candidates) == WORKERS, node.log_text()
    await _route(node, upstream, "first", "/first")
    # the child learns of the route through the parent's change events
    start = reactor.seconds()
    while True:
        statuses = await _burst(node, "/first", 20)
        if all(s == 200 for s in statuses):
            break
        assert reactor.seconds() - start < PROPAGATION, statuses
        await _pause(0.1)
    upstream.served.clear()
    statuses = await _burst(node, "/first", 200)
    assert statuses == [200] * 200
    pids = [pid for pid, _path in upstream.served]
    assert None not in pids
    assert set(pids) == upstream.candidates, {p: pids.count(p) for p in set(pids)}

    # a change made through the Admin API after the start reaches every worker
    await _route(node, upstream, "second", "/second")
    upstream.served.clear()
    changed_at = reactor.seconds()
    while True:
        statuses = await _burst(node, "/second", 40)
        if all(s == 200 for s in statuses):
            break
        assert reactor.seconds() - changed_at < PROPAGATION, statuses
        await _pause(0.1)
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
    await _started(node)
    upstream.candidates = node.workers()
    await _route(node, upstream, "keyed", "/keyed")
    admin = f"http://127.0.0.1:{node.admin}"
    code, body = await _http(
        "POST", f"{admin}/routes/{await _route_id(admin)}/plugins", {"name": "key-auth"}
    )
    assert code == 201, body
    assert (await _http("POST", f"{admin}/consumers", {"username": "alice"}))[0] == 201
    code, body = await _http("POST", f"{admin}/consumers/alice/key-auth", {"key": "k1"})
    assert code == 201, body
    key = {"apikey": "k1"}
    start = reactor.seconds()
    while True:
        upstream.served.clear()
        statuses = await _burst(node, "/keyed", 40, key)
        served = {pid for pid, _path in upstream.served}
        if statuses == [200] * 40 and served == upstream.candidates:
            break  # both processes authenticated k1 (and cached it)
        assert reactor.seconds() - start < PROPAGATION, statuses
        await _pause(0.1)
    assert (await _http("DELETE", f"{admin}/key-auths/k1"))[0] == 204
    deleted_at = reactor.seconds()
    while True:
        statuses = await _burst(node, "/keyed", 20, key)
        if statuses == [401] * 20:
            break
        assert reactor.seconds() - deleted_at < 1.0, statuses
    statuses = await _burst(node, "/keyed", 100, key)
    assert statuses == [401] * 100


async def _route_id(admin: str) -> str:
    code, body = await _http("GET", f"{admin}/routes")
    assert code == 200, body
    return str(json.loads(body)["data"][0]["id"])


@pytest_twisted.ensureDeferred
async def test_killed_worker_is_restarted(node: Node, upstream: Upstream) -> None:
    """A child killed with SIGKILL is replaced by a new process that serves the current config."""
    await _started(node)
    (child,) = _children(node.proc.pid)
    await _route(node, upstream, "svc", "/svc")
    os.kill(child, signal.SIGKILL)
    new = await _until(lambda: _children(node.proc.pid) - {child}, "a replacement worker", node)
    assert len(new) == 1
    await _until(lambda: _listeners_on(node.proxy) == WORKERS, "the new worker to listen", node)
    upstream.candidates = node.workers()
    statuses = await _burst(node, "/svc", 60)
    assert statuses == [200] * 60
    assert new <= {pid for pid, _path in upstream.served}


async def _server_status(node: Node) -> dict[str, int]:
    code, body = await _http("GET", f"http://127.0.0.1:{node.admin}/status")
    assert code == 200, body
    return dict(json.loads(body)["server"])


@pytest_twisted.ensureDeferred
async def test_status_counts_every_workers_connections(node: Node) -> None:
    """/status adds up the connections and requests of all worker processes, as nginx does."""
    from tests.integration.harness import raw_connect

    await _started(node)
    base = await _server_status(node)
    clients = []
    holders: set[int | None] = set()
    while len(clients) < 40 and (len(clients) < 12 or len(holders - {node.proc.pid}) == 0):
        client = await raw_connect(node.proxy)
        clients.append(client)
        local = client.transport.getHost().port
        holder = await _until(
            lambda local=local: _pid_of_connection(node.proxy, local, node.workers()) or 0,
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
            await _pause(0.1)

    server = await check(lambda s: s["connections_waiting"] >= base["connections_waiting"] + opened)
    assert server["connections_waiting"] == base["connections_waiting"] + opened, (base, server)
    assert server["connections_accepted"] >= base["connections_accepted"] + opened
    for client in clients:
        client.transport.loseConnection()
    server = await check(lambda s: s["connections_active"] == base["connections_active"])
    assert server["connections_active"] == base["connections_active"], (base, server)

    before = server["total_requests"]
    statuses = await _burst(node, "/nothing", 40)  # 404s, each on a new connection
    assert statuses == [404] * 40
    server = await check(lambda s: s["total_requests"] >= before + 40)
    assert server["total_requests"] == before + 40, (before, server)


@pytest_twisted.ensureDeferred
async def test_sigterm_stops_every_worker(node: Node) -> None:
    """SIGTERM to the parent stops the children too, and the parent exits cleanly."""
    await _started(node)
    pids = node.workers()
    node.proc.send_signal(signal.SIGTERM)
    await _until(lambda: node.proc.poll() is not None, "the parent to exit", node, exit_ok=True)
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
