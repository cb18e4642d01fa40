"""Worker processes: ``worker_processes = auto|N`` kongtx processes on the same proxy listeners.

Layout (``N > 1``):

* the **parent** (the ``twistd`` process) is worker 0: it serves the proxy
  listeners *and* the Admin API, writes the store, and supervises the others;
* workers ``1..N-1`` are child processes (``python -m kongtx.workers``) that
  serve only the proxy listeners (no Admin API, no status listener).

Every process binds its own listening socket per proxy listener with
``SO_REUSEPORT`` on the same address and port, and the kernel spreads new
connections across them (hash of the 4-tuple). A listener configured with
port 0 is bound by the parent first; the children bind the port it got.

Configuration changes: each process keeps its own snapshot. With SQLite the
parent, the only writer, forwards every committed change event over a pipe
(the child's stdin, one JSON line per event); the child fires it on its own
DAO, so its :class:`~kongtx.store.snapshot_manager.SnapshotManager` rebuilds from the
database file exactly as after a local write. The same pipe carries the
parent's :class:`~kongtx.bus.NodeBus` messages (JSON objects, e.g. proxy-cache
purges made through the Admin API). With PostgreSQL every process
already follows the cluster events (LISTEN/NOTIFY), so nothing is forwarded.
``database = off`` keeps an in-memory store per process: the parent writes
each declarative configuration it loads to ``<prefix>/dbless.json`` and the
full-reload event it forwards makes every child load that file (see
:mod:`kongtx.declarative.dbless`).

Per-process state stays per process: balancer health counters, DNS cache,
upstream connection pools. The ``local`` rate-limiting counters are per node,
as Kong's (an nginx shared dict): worker 0 owns them and serves them to the
children over a Unix socket (:mod:`kongtx.ratelimit.shared`), so a limit of
``L`` lets exactly ``L`` through the node whichever process serves a request.

Supervision: a child that dies is restarted (after 0.5 s, doubling up to 30 s
while it keeps dying within 10 s of its start). A child whose stdin reaches
end-of-file (the parent died) stops. On SIGTERM the parent stops every child
(SIGTERM, then SIGKILL after ``stop_timeout``) before it exits.

Hook: ``kongtx.tap.makeService`` returns ``make_service(reactor, config)``
instead of ``build_gateway(reactor, config)``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any, cast

from twisted.application.service import MultiService, Service
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IDelayedCall, IListeningPort
from twisted.internet.protocol import ProcessProtocol, connectionDone
from twisted.logger import ILogObserver, Logger
from twisted.python.failure import Failure
from zope.interface import directlyProvides, providedBy

from kongtx.config import Config
from kongtx.errors import ConfigError
from kongtx.http.connstats import StatsBoard
from kongtx.store.events import ChangeEvent, event_from_wire, event_to_wire

__all__ = [
    "ReusePortReactor",
    "WorkerGroup",
    "WorkerSupervisor",
    "make_service",
    "reuseport_socket",
]

log = Logger()

RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 30.0
STABLE_AFTER = 10.0  # a child that lived this long is healthy: reset the backoff
_MAX_EVENT_LINE = 64 * 1024  # a larger change event is forwarded without its rows
STATS_FILE = "connections.stats"  # in the prefix: each child's connection counters
STATS_INTERVAL = 0.5  # seconds between a child's publications of its counters


# --------------------------------------------------------------------------- listening sockets


def reuseport_socket(interface: str, port: int, backlog: int) -> socket.socket:
    """A non-blocking listening TCP socket with ``SO_REUSEPORT`` (and ``SO_REUSEADDR``).

    :param interface: address to bind (``""`` = all IPv4 addresses; IPv6 if it has a ``:``).
    :param port: port to bind (0: the kernel picks one).
    :param backlog: ``listen()`` backlog.
    """
    family = socket.AF_INET6 if ":" in interface else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((interface or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _is_proxy_factory(factory: Any) -> bool:
    """True for the factories :mod:`kongtx.service` builds for proxy listeners."""
    from kongtx.http.server import HTTPServerFactory
    from kongtx.proxy.resource import GatewayResource

    return isinstance(factory, HTTPServerFactory) or isinstance(
        getattr(factory, "resource", None), GatewayResource
    )


class ReusePortReactor:
    """A reactor whose proxy listeners are ``SO_REUSEPORT`` sockets.

    It forwards everything to ``reactor`` (bound methods are copied once, so
    the proxy's hot path pays nothing), except ``listenTCP``/``listenSSL``
    called with a proxy factory: those bind a :func:`reuseport_socket` and
    adopt it. Other listeners (Admin API) are untouched.

    :param reactor: the real reactor (must provide ``IReactorSocket``).
    :param ports: in a child, the ports to bind, in the order the node listens
        (the ports the parent got); ``None`` in the parent: bind the configured
        port and record the result in :attr:`bound`.
    """

    def __init__(self, reactor: Any, ports: list[int] | None = None) -> None:
        for name in dir(reactor):
            if name.startswith("__") or hasattr(ReusePortReactor, name):
                continue
            try:
                value = getattr(reactor, name)
            except AttributeError:
                continue
            if callable(value) and not isinstance(value, type):
                self.__dict__[name] = value
        self._reactor = reactor
        self._ports = list(ports) if ports is not None else None
        self.bound: list[tuple[str, int]] = []
        directlyProvides(self, *providedBy(reactor))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)

    def _adopt(self, port: int, factory: Any, backlog: int, interface: str) -> IListeningPort:
        if self._ports is not None:
            if len(self.bound) >= len(self._ports):
                raise ConfigError("worker: more proxy listeners than the parent bound")
            port = self._ports[len(self.bound)]
        sock = reuseport_socket(interface, port, backlog)
        try:
            listening: IListeningPort = self._reactor.adoptStreamPort(
                sock.fileno(), sock.family, factory
            )
        finally:
            sock.close()  # the reactor adopted a duplicate of the descriptor
        address = listening.getHost()
        assert isinstance(address, (IPv4Address, IPv6Address))  # a TCP listener
        self.bound.append((interface, address.port))
        return listening

    def listenTCP(
        self, port: int, factory: Any, backlog: int = 50, interface: str = ""
    ) -> IListeningPort:
        """``IReactorTCP.listenTCP``; proxy factories get a ``SO_REUSEPORT`` socket."""
        if not _is_proxy_factory(factory):
            return self._reactor.listenTCP(port, factory, backlog=backlog, interface=interface)
        return self._adopt(port, factory, backlog, interface)

    def listenSSL(
        self, port: int, factory: Any, contextFactory: Any, backlog: int = 50, interface: str = ""
    ) -> IListeningPort:
        """``IReactorSSL.listenSSL``; proxy factories get a ``SO_REUSEPORT`` socket."""
        if not _is_proxy_factory(factory):
            return self._reactor.listenSSL(
                port, factory, contextFactory, backlog=backlog, interface=interface
            )
        from twisted.protocols.tls import TLSMemoryBIOFactory

        return self._adopt(
            port, TLSMemoryBIOFactory(contextFactory, False, factory), backlog, interface
        )


# --------------------------------------------------------------------------- parent side


class _WorkerProtocol(ProcessProtocol):
    """One child: relays its log lines, notes its readiness, reports its end."""

    def __init__(self, supervisor: WorkerSupervisor, index: int) -> None:
        self.supervisor = supervisor
        self.index = index
        self.pid: int | None = None
        self.ready = False
        self.ended: Deferred[None] = Deferred()
        self._out = b""
        self._err = b""

    def connectionMade(self) -> None:
        assert self.transport is not None  # set by spawnProcess before connectionMade
        self.pid = self.transport.pid

    def send(self, line: bytes) -> None:
        if self.transport is not None and self.pid is not None and not self.ended.called:
            self.transport.write(line)

    def outReceived(self, data: bytes) -> None:
        self._out += data
        *lines, self._out = self._out.split(b"\n")
        for line in lines:
            if line == b"ready":
                self.ready = True
                self.supervisor.worker_ready(self)

    def errReceived(self, data: bytes) -> None:
        self._err += data
        *lines, self._err = self._err.split(b"\n")
        for line in lines:
            log.info(
                "worker {index} [{pid}] {line}",
                index=self.index,
                pid=self.pid,
                line=line.decode("utf-8", "replace"),
            )

    def processEnded(self, reason: Failure) -> None:
        self.supervisor.worker_ended(self, reason)
        self.ended.callback(None)


class WorkerSupervisor(Service):
    """Start workers ``1..count-1`` as child processes and keep them running.

    :param reactor: provides ``IReactorProcess`` and ``IReactorTime``.
    :param node: the parent's :class:`~kongtx.service.GatewayNode` (worker 0),
        built on a :class:`ReusePortReactor`; children start once it is ready.
    :param count: total number of workers, the parent included.
    :param bound: returns the proxy ports the parent bound (after ``node.ready``).
    :param stop_timeout: seconds between SIGTERM and SIGKILL at stop.
    :param counters_address: where worker 0 serves its local rate-limiting counters.
    """

    def __init__(
        self,
        reactor: Any,
        node: Any,
        count: int,
        bound: Callable[[], list[tuple[str, int]]],
        *,
        stop_timeout: float = 10.0,
        counters_address: str | None = None,
    ) -> None:
        self.reactor = reactor
        self.counters_address = counters_address
        self.node = node
        self.count = count
        self._bound = bound
        self.stop_timeout = stop_timeout
        self.workers: dict[int, _WorkerProtocol] = {}
        self._started_at: dict[int, float] = {}
        self._delays: dict[int, float] = {}
        self._respawns: dict[int, IDelayedCall] = {}
        self._stopping = False
        self._ready_observers: list[Callable[[int, int], object]] = []

    # -- lifecycle ---------------------------------------------------------------
    def startService(self) -> None:
        super().startService()
        self._stopping = False
        self.node.ready.addCallback(self._node_ready)

    def _node_ready(self, node: Any) -> Any:
        if self._stopping:
            return node
        if getattr(node.dao, "cluster", None) is None:
            # SQLite: this process is the only writer; tell the children.
            node.dao.add_change_listener(self._forward)
        node.bus.add_forwarder(self._forward_message)
        for index in range(1, self.count):
            self._spawn(index)
        return node

    def stopService(self) -> Deferred[Any]:
        super().stopService()
        self._stopping = True
        for call in self._respawns.values():
            if call.active():
                call.cancel()
        self._respawns.clear()
        live = [w for w in self.workers.values() if not w.ended.called]
        for worker in live:
            _signal(worker, "TERM")
        kill = self.reactor.callLater(self.stop_timeout, self._kill, live)
        done: Deferred[Any] = DeferredList([w.ended for w in live])

        def finished(result: Any) -> Any:
            if kill.active():
                kill.cancel()
            return result

        return done.addBoth(finished)

    @staticmethod
    def _kill(workers: list[_WorkerProtocol]) -> None:
        for worker in workers:
            if not worker.ended.called:
                log.warn(  # noqa: G010 - twisted's Logger has no warning()
                    "worker {index} [{pid}] did not stop; killing it",
                    index=worker.index,
                    pid=worker.pid,
                )
                _signal(worker, "KILL")

    # -- children ----------------------------------------------------------------
    def signal_workers(self, signum: int = signal.SIGUSR1) -> None:
        """Send ``signum`` to every running child (SIGUSR1: reopen the log files)."""
        for worker in list(self.workers.values()):
            transport = worker.transport
            if transport is not None and getattr(transport, "pid", None):
                try:
                    transport.signalProcess(signum)
                except OSError:
                    pass

    def _spawn(self, index: int) -> None:
        self._respawns.pop(index, None)
        protocol = _WorkerProtocol(self, index)
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.reactor.spawnProcess(
            protocol,
            sys.executable,
            [sys.executable, "-m", "kongtx.workers"],
            env=env,
            childFDs={0: "w", 1: "r", 2: "r"},
        )
        boot = {
            "index": index,
            "config": _raw_config(self.node.config),
            "ports": [port for _iface, port in self._bound()],
            "counters": self.counters_address,
            "stats": self.node.stats_board.path if self.node.stats_board is not None else None,
            "slots": self.count,
        }
        protocol.send(json.dumps(boot).encode() + b"\n")
        self.workers[index] = protocol
        self._started_at[index] = self.reactor.seconds()
        log.info("started worker {index} [{pid}]", index=index, pid=protocol.pid)

    def worker_ready(self, worker: _WorkerProtocol) -> None:
        """A child said it serves (its protocol calls this): tell the ready observers."""
        log.info("worker {index} [{pid}] is serving", index=worker.index, pid=worker.pid)
        for cb in tuple(self._ready_observers):
            cb(worker.index, worker.pid or 0)

    def add_ready_observer(self, cb: Callable[[int, int], object]) -> None:
        """Call ``cb(index, pid)`` each time a child starts serving."""
        self._ready_observers.append(cb)

    def worker_ended(self, worker: _WorkerProtocol, reason: Failure) -> None:
        """A child exited (its protocol calls this): restart it unless the node stops."""
        index = worker.index
        if self.workers.get(index) is not worker:
            return
        if self.node.stats_board is not None:  # its connections are gone
            self.node.stats_board.clear_gauges(index)
        if self._stopping:
            return
        lived = self.reactor.seconds() - self._started_at.get(index, 0.0)
        delay = RESTART_DELAY if lived >= STABLE_AFTER else self._delays.get(index, RESTART_DELAY)
        self._delays[index] = min(delay * 2, MAX_RESTART_DELAY)
        log.warn(  # noqa: G010
            "worker {index} [{pid}] ended ({why}); restarting in {delay}s",
            index=index,
            pid=worker.pid,
            why=reason.getErrorMessage(),
            delay=delay,
        )
        self._respawns[index] = self.reactor.callLater(delay, self._spawn, index)

    def _forward(self, event: ChangeEvent) -> None:
        line = json.dumps(event_to_wire(event, _MAX_EVENT_LINE)).encode() + b"\n"
        for worker in self.workers.values():
            worker.send(line)

    def _forward_message(self, topic: str, data: Any) -> None:
        line = json.dumps({"topic": topic, "data": data}).encode() + b"\n"
        for worker in self.workers.values():
            worker.send(line)

    def pids(self) -> dict[int, int]:
        """``{index: pid}`` of the live children."""
        return {
            i: w.pid for i, w in self.workers.items() if w.pid is not None and not w.ended.called
        }


def _signal(worker: _WorkerProtocol, sig: str) -> None:
    if worker.transport is None:  # not spawned yet
        return
    try:
        worker.transport.signalProcess(sig)
    except Exception as exc:  # noqa: BLE001 - already gone (ProcessExitedAlready, OSError)
        log.debug("signal {sig} to worker {index}: {exc!r}", sig=sig, index=worker.index, exc=exc)


def _raw_config(config: Config) -> dict[str, str | None]:
    """The raw property values the parent's Config was parsed from."""
    return config.raw


class WorkerGroup(MultiService):
    """The parent's service tree: the gateway node (worker 0) and the supervisor.

    :attr:`node`, :attr:`supervisor`, :attr:`ready` (the node's) and
    :meth:`port_of` are exposed for embedders and tests.
    """

    def __init__(
        self, node: Any, supervisor: WorkerSupervisor, counters: Service | None = None
    ) -> None:
        super().__init__()
        self.node = node
        self.supervisor = supervisor
        if counters is not None:
            counters.setServiceParent(self)
        node.setServiceParent(self)
        supervisor.setServiceParent(self)

    @property
    def ready(self) -> Deferred[Any]:
        return self.node.ready

    def port_of(self, kind: str, index: int = 0) -> int:
        """The port of a listener of the parent (see ``GatewayNode.port_of``)."""
        return int(self.node.port_of(kind, index))


def make_service(reactor: Any, config: Any) -> Any:
    """The service ``twistd kongtx`` runs: one node, or a :class:`WorkerGroup`.

    :param reactor: the reactor.
    :param config: a loaded Config; ``config.worker_count()`` processes are run.
    """
    from kongtx.service import build_gateway

    count = config.worker_count()
    if count <= 1:
        return build_gateway(reactor, config)
    from kongtx.ratelimit.counters import LocalCounters
    from kongtx.ratelimit.shared import CounterServer, new_address

    wrapped = ReusePortReactor(reactor)
    node = build_gateway(wrapped, config)
    os.makedirs(config.prefix, exist_ok=True)
    node.stats_board = StatsBoard.create(os.path.join(config.prefix, STATS_FILE), count)
    address = new_address()
    # Worker 0 serves its own in-memory counters (children get SharedCounters).
    assert isinstance(node.local_counters, LocalCounters)
    counters = CounterServer(reactor, node.local_counters, address)
    supervisor = WorkerSupervisor(
        reactor, node, count, lambda: list(wrapped.bound), counters_address=address
    )
    return WorkerGroup(node, supervisor, counters)


# --------------------------------------------------------------------------- child side


def _read_line(fd: int) -> bytes:
    """One line from ``fd``, byte by byte, so nothing after it is read ahead."""
    out = bytearray()
    while True:
        ch = os.read(fd, 1)
        if not ch or ch == b"\n":
            return bytes(out)
        out += ch


def _publish_connection_stats(reactor: Any, node: Any, path: str, slots: int) -> None:
    """Publish this worker's connection counters for worker 0's ``/status``."""
    from twisted.internet.task import LoopingCall

    board = StatsBoard.open(path, slots)
    index = node.worker_index
    board.resume(index, node.connections)
    publisher = LoopingCall(board.publish, index, node.connections)
    publisher.clock = reactor
    publisher.start(STATS_INTERVAL, now=True)
    reactor.addSystemEventTrigger("after", "shutdown", board.clear_gauges, index)


def _child_main() -> int:
    """Entry point of a child worker: bootstrap line on stdin, then change events."""
    from twisted.logger import eventAsText, globalLogBeginner
    from twisted.protocols.basic import LineOnlyReceiver

    from kongtx.config import load_config
    from kongtx.service import build_gateway, freeze_gc_when_ready

    boot = json.loads(_read_line(0) or b"null")
    if not isinstance(boot, dict):
        print("kongtx.workers: started without a bootstrap message", file=sys.stderr)
        return 2

    def observer(event: dict[str, Any]) -> None:
        sys.stderr.write(eventAsText(event, includeTimestamp=False, includeSystem=False) + "\n")
        sys.stderr.flush()

    # Twisted takes any callable as an observer; the stubs want the interface.
    globalLogBeginner.beginLoggingTo([cast(ILogObserver, observer)], redirectStandardIO=False)
    raw = dict(boot["config"])
    raw.update(admin_listen="off", status_listen="off", worker_processes="1")
    config = load_config(None, {}, raw, search_default_paths=False)

    # A process entry point, like kongtx.tap.makeService: the one place a child
    # needs the global reactor.
    from twisted.internet import reactor
    from twisted.internet.stdio import StandardIO

    from kongtx import lean_dispatch
    from kongtx.logsinks.reopen import install_sigusr1
    from kongtx.rlimits import raise_open_files_limit

    raise_open_files_limit()
    lean_dispatch.install()
    node = build_gateway(ReusePortReactor(reactor, boot["ports"]), config)
    if boot.get("counters"):
        from kongtx.ratelimit.shared import SharedCounters

        node.local_counters = SharedCounters(reactor, boot["counters"])
    node.worker_index = int(boot["index"])
    if boot.get("stats"):
        _publish_connection_stats(reactor, node, boot["stats"], int(boot["slots"]))
    freeze_gc_when_ready(node)
    install_sigusr1(reactor)
    status = {"code": 0}

    class Events(LineOnlyReceiver):
        delimiter = b"\n"

        MAX_LENGTH = 2 * _MAX_EVENT_LINE

        def lineReceived(self, line: bytes) -> None:
            message = json.loads(line)
            if isinstance(message, dict):  # a NodeBus message from worker 0
                node.bus.deliver(message["topic"], message["data"])
                return
            event = event_from_wire(message)
            if node.dao is not None:  # before the store opens, the first load sees it
                node.dao.fire(event)

        def connectionLost(self, reason: Failure = connectionDone) -> None:
            if reactor.running:
                log.info("parent went away; stopping")
                reactor.stop()

    def ready(_: Any) -> None:
        os.write(1, b"ready\n")

    def failed(failure: Failure) -> None:
        status["code"] = 1
        if reactor.running:
            reactor.stop()

    def start() -> None:
        node.startService()
        node.ready.addCallbacks(ready, failed)
        # mypy reads the win32 StandardIO (no stdin/stdout); the POSIX one takes them.
        StandardIO(Events(), stdin=0, stdout=os.open(os.devnull, os.O_WRONLY), reactor=reactor)  # type: ignore[call-arg]

    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: node.stopService() if node.running else None
    )
    reactor.callWhenRunning(start)
    reactor.run()
    return status["code"]


if __name__ == "__main__":
    sys.exit(_child_main())
