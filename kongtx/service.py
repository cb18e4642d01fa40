"""Composition: one kongtx node as a Twisted ``MultiService``.

``build_gateway(reactor, config)`` is the embedding API: it returns a
:class:`GatewayNode` (a ``MultiService``) to add to any application. On start
it opens the store, builds the first configuration snapshot, then opens the
proxy and Admin API listeners; :attr:`GatewayNode.ready` fires when they are up.
"""

from __future__ import annotations

import gc
import uuid
from functools import partial
from typing import Any, Callable

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import SSL4ServerEndpoint, serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.python.failure import Failure

from kongtx import tls
from kongtx.admin.routes import cache as cache_routes
from kongtx.bus import NodeBus
from kongtx.cache import Entities, open_entities
from kongtx.config import DEFAULT_BACKLOG
from kongtx.heap import release_in_thread
from kongtx.http.client import UpstreamPool
from kongtx.http.connstats import ConnectionStats, StatsBoard
from kongtx.logsinks.node_logs import NodeLogs
from kongtx.plugins.base import PluginSet, load_plugins
from kongtx.proxy.dns import DNSCache, system_resolver
from kongtx.proxy.gateway import Gateway
from kongtx.proxy.healthcheck import BalancerRegistry
from kongtx.proxy.resource import GatewayResource, GatewaySite
from kongtx.proxy.snapshot import ROUTING_ENTITIES, Snapshot
from kongtx.proxy.upstream import UpstreamForwarder
from kongtx.ratelimit.counters import CounterStore, LocalCounters
from kongtx.ratelimit.policies import CounterPolicies
from kongtx.slices import SliceRunner
from kongtx.store.events import ChangeEvent
from kongtx.store.snapshot_manager import SnapshotManager

log = Logger()


class GatewayNode(MultiService):
    """One gateway node: store, snapshot, proxy and admin listeners.

    :param reactor: the reactor to run on.
    :param config: a loaded ``Config``.
    :param dao: an already open DAO (embedding, tests); opened from ``config`` otherwise.
    """

    def __init__(self, reactor: Any, config: Any, dao: Any = None) -> None:
        super().__init__()
        self.reactor = reactor
        self.config = config
        self.dao = dao
        self.node_id = str(uuid.uuid4())
        self.plugins: PluginSet = load_plugins(list(config.plugins))
        self.snapshots: SnapshotManager[Snapshot] | None = None
        #: Runs full snapshot builds in short slices on the reactor.
        self.slices = SliceRunner(reactor)
        #: Consumers and credentials by key (the entity cache; it follows the store from start).
        self.entities: Entities = open_entities(config, reactor)
        self.dns = _dns_cache(reactor, config)
        self.balancers = BalancerRegistry(reactor, self.dns, reactor, node_id=self.node_id)
        self.pool = UpstreamPool(
            reactor,
            pool_size=config.upstream_keepalive_pool_size,
            idle_timeout=float(config.upstream_keepalive_idle_timeout),
            max_requests=config.upstream_keepalive_max_requests,
            max_head_size=config.nginx_proxy_proxy_buffer_size,
        )
        self.forwarder = UpstreamForwarder(self.pool, self.balancers, self.dns)
        self.gateway = Gateway(
            reactor,
            self._current_snapshot,
            self.forwarder,
            config,
            node_id=self.node_id,
            entities=self.entities,
        )
        #: The ``local`` rate-limiting counters: this process's own, or (a child worker)
        #: a :class:`~kongtx.ratelimit.shared.SharedCounters` view of worker 0's.
        self.local_counters: CounterStore = LocalCounters(reactor)
        #: Messages to the node's other worker processes (proxy-cache purges).
        self.bus = NodeBus()
        self.bus.subscribe(cache_routes.PURGE_TOPIC, lambda _: self.entities.cache.purge())
        #: The counter policies plugins count with (set once the store is open).
        self.counters: CounterPolicies | None = None
        #: client connections and requests of the proxy listeners (``/status``, metrics)
        self.connections = ConnectionStats()
        #: worker processes' counters (worker 0 of several; see kongtx.workers)
        self.stats_board: StatsBoard | None = None
        self.ports: dict[str, list[IListeningPort]] = {
            "proxy": [],
            "proxy_ssl": [],
            "admin": [],
            "status": [],
        }
        self.ready: Deferred[GatewayNode] = Deferred()
        #: Kong's own access and error logs (opened at start).
        self.logs: NodeLogs | None = None
        #: 0 in the process serving the Admin API, ``n`` in worker process ``n``
        self.worker_index = 0
        #: DB-less mode's declarative configuration (``database = off``)
        self.declarative: Any = None
        self._starting: Deferred[None] | None = None

    # -- snapshot ----------------------------------------------------------------
    def _current_snapshot(self) -> Snapshot:
        assert self.snapshots is not None and self.snapshots.current is not None
        return self.snapshots.current

    def build_snapshot(self, rows: dict[str, list[dict[str, Any]]]) -> Deferred[Snapshot]:
        """Build a :class:`Snapshot` from every row of the store, in slices on the reactor
        (the current snapshot keeps serving meanwhile)."""
        snapshot, steps = Snapshot.in_steps(rows, self.plugins, built_at=self.reactor.seconds())
        return self.slices.run(steps).addCallback(lambda _: snapshot)

    def _swapped(self, snapshot: Snapshot) -> None:
        self._sync_balancers(snapshot)

    def _updated(self, snapshot: Snapshot, event: ChangeEvent) -> None:
        """One change applied: balancers follow upstream/target changes (everything else,
        upstream TLS options included, lives in the snapshot)."""
        if event.entity in ("upstreams", "targets"):
            self._sync_balancers(snapshot)

    def _sync_balancers(self, snapshot: Snapshot) -> None:
        synced = self.balancers.sync(
            list(snapshot.upstreams.values()), list(snapshot.targets.values())
        )
        synced.addErrback(lambda f: log.failure("balancer sync failed", f))

    # -- lifecycle ---------------------------------------------------------------
    def startService(self) -> None:
        super().startService()
        self._starting = Deferred.fromCoroutine(self._start())
        self._starting.addCallbacks(lambda _: self.ready.callback(self), self._failed_start)

    def _failed_start(self, failure: Failure) -> None:
        log.failure("kongtx failed to start", failure)
        self.ready.errback(failure)

    async def _start(self) -> None:
        from kongtx.store import open_store

        self.logs = NodeLogs(self.reactor, self.config)
        self.logs.start()
        self.gateway.access_log = self.logs.log_proxy_request
        if self.dao is None:
            self.dao = await open_store(self.config, self.reactor)
        if self.config.database == "off":
            from kongtx.declarative.dbless import DeclarativeState

            self.declarative = DeclarativeState(
                self.dao, self.reactor, self.config, worker_index=self.worker_index
            )
            await self.declarative.load_configured()
        self.entities.follow_store(self.dao)
        warmup = list(self.config.db_cache_warmup_entities or ())
        if warmup:
            await self.entities.warmup(self.dao, warmup)
        self.snapshots = SnapshotManager(
            self.dao,
            self.build_snapshot,
            self.reactor,
            entities=ROUTING_ENTITIES,
            retire=partial(release_in_thread, self.reactor),
        )
        self.snapshots.add_swap_listener(self._swapped)
        self.snapshots.add_update_listener(self._updated)
        self.counters = CounterPolicies(self.reactor, self.local_counters, self.dao.backend)
        # The one place plugins start (Kong's init_worker), whichever front-end serves,
        # in every worker process and for an embedder's build_gateway.
        for plugin in self.plugins.ordered:
            plugin.handler.init_worker(self)
        if self.declarative is not None:
            self.declarative.follow_snapshots(self.snapshots)
        snapshot = await self.snapshots.start()
        self._swapped(snapshot)
        await self._listen()

    async def _listen(self) -> None:
        from kongtx.admin.app import AdminAPI

        config = self.config
        cert, key = tls.ensure_default_certificate(
            config.prefix, config.ssl_cert, config.ssl_cert_key
        )
        sni_factory = tls.SNIServerContextFactory(
            self._certificate_for,
            cert,
            key,
            protocols=tuple(config.ssl_protocols),
            ciphers=tls.cipher_string(config.ssl_cipher_suite, config.ssl_ciphers),
        )
        for listener in config.proxy_listen:
            factory = self._proxy_factory("https" if listener.ssl else "http")
            if listener.ssl:
                endpoint = _ssl_endpoint(self.reactor, listener, sni_factory)
                self.ports["proxy_ssl"].append(await endpoint.listen(factory))
            else:
                endpoint = serverFromString(self.reactor, listener.endpoint)
                self.ports["proxy"].append(await endpoint.listen(factory))
        api_args: dict[str, Any] = {
            "node_id": self.node_id,
            "plugins_available": self.plugins.available(),
            "health": self.balancers,
            "clock": self.reactor,
            "server_stats": self.server_stats,
        }
        admin = AdminAPI(
            self.dao,
            config,
            declarative=self.declarative,
            extensions=[
                partial(cache_routes.install, self.entities, self.bus),
                *(p.handler.admin_routes for p in self.plugins.ordered),
            ],
            **api_args,
        )
        await self._serve_api("admin", config.admin_listen, admin, sni_factory)
        if config.status_listen:
            from kongtx.admin.status import StatusAPI

            status = StatusAPI(
                self.dao,
                config,
                extensions=self._plugin_routes("status_routes"),
                ready=lambda: self.ready.called,
                **api_args,
            )
            await self._serve_api("status", config.status_listen, status, sni_factory)

    def _plugin_routes(self, hook: str) -> list[Any]:
        """The plugins' ``status_routes(api, router)`` (Kong's status_api.lua), for the Status API."""
        routes = []
        for plugin in self.plugins.ordered:
            install = getattr(plugin.handler, hook, None)
            if install is not None:
                routes.append(install)
        return routes

    async def _serve_api(self, kind: str, listeners: Any, api: Any, sni_factory: Any) -> None:
        from kongtx.admin.site import AdminSite

        site = AdminSite.from_config(api.resource(), self.config, self.reactor)
        site.access_log = self.logs.site_logger(kind) if self.logs is not None else None
        for listener in listeners:
            if listener.ssl:
                endpoint = _ssl_endpoint(self.reactor, listener, sni_factory)
            else:
                endpoint = serverFromString(self.reactor, listener.endpoint)
            self.ports[kind].append(await endpoint.listen(site))

    def _proxy_factory(self, scheme: str) -> Any:
        config = self.config
        if config.proxy_frontend == "native":
            from kongtx.http.server import HTTPServerFactory

            return HTTPServerFactory(
                self.gateway.handle,
                self.reactor,
                scheme=scheme,
                max_body_size=config.nginx_http_client_max_body_size or 0,
                stats=self.connections,
            )
        resource = GatewayResource(
            self.gateway, self.reactor, config.nginx_http_client_max_body_size or 0
        )
        return GatewaySite(resource, reactor=self.reactor, stats=self.connections)

    def server_stats(self) -> dict[str, int]:
        """``/status`` ``server``: the proxy listeners' counters of this node, every worker
        process included (their published values, at most half a second old)."""
        board = self.stats_board
        return self.connections.snapshot(*(board.others() if board is not None else ()))

    def _certificate_for(self, server_name: str) -> tuple[str, str] | None:
        snapshots = self.snapshots
        if snapshots is None or snapshots.current is None:
            return None
        row = tls.select_certificate(server_name, snapshots.current.certificates_by_sni)
        return (row["cert"], row["key"]) if row is not None else None

    def port_of(self, kind: str, index: int = 0) -> int:
        """The port a listener got (listeners on port 0 in tests)."""
        return int(self.ports[kind][index].getHost().port)  # type: ignore[attr-defined]

    def stopService(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        for ports in self.ports.values():
            for port in ports:
                await port.stopListening()  # type: ignore[misc]
            ports.clear()
        if self.snapshots is not None:
            self.snapshots.stop()
        self.slices.stop()  # a build in progress ends here (its snapshot is never served)
        self.balancers.stop()
        for plugin in self.plugins.ordered:
            await _quietly(plugin.handler.exit_worker, plugin.name)
        if self.counters is not None:
            await self.counters.close()
        await self.pool.close()
        if self.dao is not None:
            await self.dao.close()
        if self.logs is not None:
            self.gateway.access_log = None
            await self.logs.stop()
        await super().stopService()


async def _quietly(exit_worker: Callable[[], Deferred[Any] | None], name: str) -> None:
    try:
        result = exit_worker()
        if result is not None:
            await result
    except Exception:
        log.failure("plugin {name} failed to stop", name=name)


def _ssl_endpoint(reactor: Any, listener: Any, factory: Any) -> Any:
    return SSL4ServerEndpoint(
        reactor,
        listener.port,
        factory,
        backlog=listener.backlog or DEFAULT_BACKLOG,
        interface=listener.host or "",
    )


def freeze_gc_when_ready(node: GatewayNode) -> None:
    """For a process that runs one node for its whole life (twistd, a worker): once the node
    is up, move everything loaded so far (modules, the first snapshot) out of the cyclic
    collector's reach. Its full passes otherwise stall the reactor for tens of ms under load
    (measured on bench (c): p99 49 ms -> 20 ms). Not for embedders who build many nodes."""

    def freeze(ready: GatewayNode) -> GatewayNode:
        # PyPy's collector is generational and has no gc.freeze (nothing to do there).
        freeze_all = getattr(gc, "freeze", None)
        if freeze_all is not None:
            freeze_all()
        return ready

    node.ready.addCallback(freeze)


def _dns_cache(reactor: Any, config: Any) -> DNSCache:
    """The DNS cache configured by Kong's ``dns_*`` settings (``dns_resolver`` = ``ip[:port]`` list)."""
    servers = None
    if config.dns_resolver:
        servers = []
        for entry in config.dns_resolver:
            host, _, port = (
                entry.strip().rpartition(":") if entry.count(":") == 1 else (entry, "", "")
            )
            servers.append((host.strip("[]"), int(port) if port else 53))
    return DNSCache(
        system_resolver(reactor, servers=servers),
        reactor,
        valid_ttl=config.dns_valid_ttl,
        stale_ttl=config.dns_stale_ttl,
        not_found_ttl=config.dns_not_found_ttl,
        error_ttl=config.dns_error_ttl,
        order=config.dns_order,
        hosts_file=config.dns_hostsfile,
    )


def build_gateway(reactor: Any, config: Any, store: Any = None) -> GatewayNode:
    """Build a kongtx node (the embedding API).

    :param reactor: the reactor.
    :param config: a ``Config`` from :func:`kongtx.config.load_config`.
    :param store: an open DAO to use instead of opening ``config.database``.
    :returns: a ``MultiService``; start it (or add it to an application).
    """
    return GatewayNode(reactor, config, store)


__all__ = ["GatewayNode", "build_gateway"]
