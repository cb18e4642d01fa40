"""Worker-process nodes for the integration tests: ``twistd -n kongtx`` with
``worker_processes = 2`` in a subprocess, an upstream that tells which process sent
each request, and the helpers the worker tests share.

Which process proxied a request is found from the upstream's side: the peer
of each upstream connection is a socket of one kongtx process, identified
through ``/proc/net/tcp`` (its inode) and ``/proc/<pid>/fd``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2
DEADLINE = 20.0  # seconds allowed for a start or a restart (safety net)
PROPAGATION = 3.0  # an Admin API change must reach every worker within this

#: Worker tests need /proc to tell which process served a request.
NEEDS_PROC = pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux /proc")


# --------------------------------------------------------------------------- /proc helpers


def children_of(pid: int) -> set[int]:
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


def listeners_on(port: int) -> int:
    """How many sockets LISTEN on ``port``."""
    return sum(1 for row in _tcp_rows() if row[3] == "0A" and _port(row[1]) == port)


def pid_of_connection(local_port: int, remote_port: int, pids: set[int]) -> int | None:
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


def free_port() -> int:
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
            self.by_conn[peer_port] = pid_of_connection(peer_port, self.port, self.candidates)
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
        return {self.proc.pid} | children_of(self.proc.pid)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def run_node(tmp_path: Path, plugins: str = "off", **settings: str) -> Any:
    """Start ``twistd -n kongtx`` with :data:`WORKERS` workers; yield its :class:`Node`, stop it.

    ``settings`` add to (or replace) the configuration file's lines.
    """
    proxy, admin = free_port(), free_port()
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


async def pause(seconds: float) -> None:
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    await deferLater(reactor, seconds, lambda: None)


async def wait_for(
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
        await pause(0.1)


async def fresh_request(
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


async def wait_started(node: Node) -> None:
    await wait_for(lambda: listeners_on(node.proxy) == WORKERS, "every worker to listen", node)

    async def admin_up() -> bool:
        try:
            return (await fresh_request("GET", f"http://127.0.0.1:{node.admin}/"))[0] == 200
        except Exception:  # noqa: BLE001 - not listening yet
            return False

    from twisted.internet import reactor

    deadline = reactor.seconds() + DEADLINE
    while not await admin_up():
        assert reactor.seconds() < deadline, node.log_text()
        await pause(0.1)


async def add_route(node: Node, upstream: Upstream, name: str, path: str) -> None:
    admin = f"http://127.0.0.1:{node.admin}"
    code, body = await fresh_request(
        "POST",
        f"{admin}/services",
        {"name": name, "url": f"http://127.0.0.1:{upstream.port}/{name}"},
    )
    assert code == 201, body
    code, body = await fresh_request("POST", f"{admin}/services/{name}/routes", {"paths[]": path})
    assert code == 201, body


async def burst(
    node: Node, path: str, count: int, headers: dict[str, str] | None = None
) -> list[int]:
    """``count`` proxied GETs, 10 at a time, each on a new connection; their statuses."""
    from twisted.internet.defer import gatherResults

    statuses: list[int] = []
    for _ in range(0, count, 10):
        batch = [
            _request_d("GET", f"http://127.0.0.1:{node.proxy}{path}", headers) for _ in range(10)
        ]
        statuses += [code for code, _body in await gatherResults(batch)]
    return statuses


def _request_d(method: str, url: str, headers: dict[str, str] | None = None) -> Any:
    from twisted.internet.defer import Deferred

    return Deferred.fromCoroutine(fresh_request(method, url, headers=headers))
