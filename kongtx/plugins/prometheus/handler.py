"""prometheus: Kong's per-request metrics (log phase) and the ``/metrics`` exposition.

The hook only updates this process's :class:`RequestMetrics` (dict
operations). ``GET /metrics`` on the Admin API and on the Status API adds
up the other worker processes' shares (:mod:`.sharing`) and the node's
gauges: node info, datastore reachability, connections (the counters behind
``/status``), upstream target health, dropped log entries.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger

import kongtx
from kongtx.admin.request import AdminRequest, Response
from kongtx.cache.row_memo import RowMemo
from kongtx.logsinks.serializer import (
    DEFAULT_WORKSPACE_NAME,
    latencies,
    request_size,
    response_size,
)
from kongtx.logsinks.stats import SINK_STATS
from kongtx.plugins.base import PluginConfig, PluginHandler, PluginNode, ProxyContext
from kongtx.plugins.prometheus.exposition import (
    CONTENT_TYPE,
    node_families,
    render,
    request_families,
)
from kongtx.plugins.prometheus.metrics import RequestMetrics
from kongtx.plugins.prometheus.sharing import MetricsFiles

__all__ = ["PrometheusHandler"]

log = Logger()

#: Seconds between a worker process's metric dumps (Kong's counter sync interval).
SYNC_INTERVAL = 1.0
#: Seconds a scrape waits for the datastore to answer.
PING_TIMEOUT = 2.0

_WS = DEFAULT_WORKSPACE_NAME


def server_counters(node: Any) -> dict[str, int]:
    """The proxy's ``/status`` counters of this process (connections when the node keeps them)."""
    stats = getattr(node, "connections", None)
    if stats is not None:
        return dict(stats.snapshot())
    return {"total_requests": node.gateway.requests_total}


#: The ``service`` and ``route`` labels by their rows.
_NAMES: RowMemo[tuple[str, str]] = RowMemo()


def _label_names(service: Any, route: Any) -> tuple[str, str]:
    """The ``service`` and ``route`` labels of a request (its rows' names, else host / id)."""
    return _NAMES.get(
        service,
        route,
        None,
        lambda: (
            (service.get("name") or service.get("host") or "") if service else "",
            (route.get("name") or route.get("id") or "") if route else "",
        ),
    )


def _add_counts(into: dict[str, int], more: dict[str, int]) -> None:
    for key, value in more.items():
        into[key] = into.get(key, 0) + value


class PrometheusHandler(PluginHandler):
    name = "prometheus"
    priority = 13
    version = kongtx.KONG_COMPAT_VERSION

    def __init__(self) -> None:
        self.metrics = RequestMetrics()
        self.node: Any = None
        self.files: MetricsFiles | None = None
        self.upstream_health = False
        self._scraper = False
        self._loop: LoopingCall | None = None
        self._last_requests = -1

    # -- lifecycle -------------------------------------------------------------------
    def init_worker(self, node: PluginNode) -> None:
        self.node = node
        config = node.config
        self.files = MetricsFiles(os.path.join(config.prefix, "prometheus"))
        # Worker 0 (the process with the Admin and Status APIs) answers scrapes; the others dump.
        self._scraper = node.worker_index == 0
        if self._scraper:
            self.files.clear()
        else:
            self._loop = LoopingCall(self._dump)
            self._loop.clock = node.reactor
            self._loop.start(SYNC_INTERVAL, now=False).addErrback(
                lambda f: log.failure("prometheus: metrics sync stopped", f)
            )

    def exit_worker(self) -> Deferred[None] | None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
            return self._dump()
        return None

    def configure(self, configs: list[dict[str, Any]]) -> None:
        self.upstream_health = any(
            (row.get("config") or {}).get("upstream_health_metrics") for row in configs
        )

    def _dump(self) -> Deferred[None]:
        node = self.node
        server = server_counters(node)
        if not self.metrics.changed and server.get("total_requests") == self._last_requests:
            return succeed(None)
        self.metrics.changed = False
        self._last_requests = server.get("total_requests", 0)
        data = {
            "requests": self.metrics.to_json(),
            "server": server,
            "dropped": SINK_STATS.dropped_by_plugin(),
        }
        assert self.files is not None
        reactor = node.reactor
        d = deferToThreadPool(reactor, reactor.getThreadPool(), self.files.write, data)
        return d.addErrback(lambda f: log.failure("prometheus: could not write metrics", f))

    # -- log phase -------------------------------------------------------------------
    def log(self, ctx: ProxyContext, conf: PluginConfig) -> None:
        service_name, route_name = _label_names(ctx.service, ctx.route)
        consumer = ""
        if conf.get("per_consumer") and ctx.consumer is not None:
            consumer = ctx.consumer.get("username") or ""
        metrics = self.metrics
        if conf.get("status_code_metrics"):
            metrics.count_request(
                (
                    service_name,
                    route_name,
                    str(ctx.response_status),
                    ctx.response_source,
                    _WS,
                    consumer,
                )
            )
        if conf.get("latency_metrics"):
            times = latencies(ctx, ctx.clock.seconds())
            labels = (service_name, route_name, _WS)
            metrics.observe("kong_request_latency_ms", labels, times["request"])
            if times["proxy"] >= 0:
                metrics.observe("kong_upstream_latency_ms", labels, times["proxy"])
            metrics.observe("kong_kong_latency_ms", labels, times["kong"])
        if conf.get("bandwidth_metrics"):
            size = request_size(ctx)
            if size > 0:
                metrics.add_bandwidth((service_name, route_name, "ingress", _WS, consumer), size)
            size = response_size(ctx)
            if size > 0:
                metrics.add_bandwidth((service_name, route_name, "egress", _WS, consumer), size)

    # -- exposition ------------------------------------------------------------------
    async def exposition(self) -> bytes:
        """The node's metrics in Prometheus's text format (every worker process added up)."""
        node = self.node
        merged = RequestMetrics()
        merged.add(self.metrics)
        server = server_counters(node)
        dropped = SINK_STATS.dropped_by_plugin()
        if self.files is not None:
            reactor = node.reactor
            others = await deferToThreadPool(
                reactor, reactor.getThreadPool(), self.files.read_others
            )
            for data in others:
                merged.add(data.get("requests") or {})
                _add_counts(server, data.get("server") or {})
                _add_counts(dropped, data.get("dropped") or {})
        families = node_families(
            node_id=node.node_id,
            version=kongtx.KONG_COMPAT_VERSION,
            datastore_reachable=await self._reachable(),
            server=server,
            target_health=self._target_health() if self.upstream_health else (),
            dropped=dropped,
        )
        return render(families + request_families(merged))

    async def _reachable(self) -> bool:
        dao = self.node.dao
        if dao is None:
            return False
        try:
            d = Deferred.fromCoroutine(_ping(dao))
            d.addTimeout(PING_TIMEOUT, self.node.reactor)
            await d
        except Exception:
            return False
        return True

    def _target_health(self) -> list[tuple[str, str, str, str]]:
        node = self.node
        snapshot = node.snapshots.current if node.snapshots is not None else None
        if snapshot is None:
            return []
        out = []
        for upstream in snapshot.rows.get("upstreams", []):
            body = node.balancers.health(upstream, False)
            for target in body["data"]:
                addresses = target["data"]["addresses"]
                if not addresses:
                    out.append((upstream["name"], target["target"], "", "dns_error"))
                for address in addresses:
                    where = f"{address['ip']}:{address['port']}"
                    state = address["health"].lower()
                    out.append((upstream["name"], target["target"], where, state))
        return out

    # -- Admin and Status API --------------------------------------------------------
    def admin_routes(self, admin: Any, router: Any) -> None:
        """``GET /metrics`` on the Admin API."""
        router.add("/metrics", {"GET": self._metrics_endpoint})

    def status_routes(self, api: Any, router: Any) -> None:
        """``GET /metrics`` on the Status API (Kong's ``status_api.lua``)."""
        router.add("/metrics", {"GET": self._metrics_endpoint})

    async def _metrics_endpoint(self, req: AdminRequest, params: dict[str, str]) -> Response:
        return Response(200, await self.exposition(), {"Content-Type": CONTENT_TYPE})


async def _ping(dao: Any) -> None:
    await dao.ping()
