"""The immutable in-memory configuration the proxy reads on every request.

Built in one step from every row of the store (``dao.load_all()``) whenever the
configuration changes, then swapped in whole: in-flight requests keep the
snapshot they started with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterable

from kongtx.plugins.base import LoadedPlugin, PluginSet
from kongtx.router import Router

Row = dict[str, Any]

#: What a snapshot is built from. Consumers and credentials are not routing
#: state: plugins look them up through the entity cache (:mod:`kongtx.cache`).
ROUTING_ENTITIES = (
    "services",
    "routes",
    "plugins",
    "upstreams",
    "targets",
    "certificates",
    "snis",
    "ca_certificates",
)


def _fk(row: Row, field: str) -> str | None:
    ref = row.get(field)
    return ref["id"] if ref else None


class PluginEntry:
    """One plugin's configurations relevant to one (route, service) pair.

    Kong's lookup order (``plugins_iterator.lua``): route+service+consumer,
    route+consumer, service+consumer, route+service, consumer, route, service,
    global. The consumer-independent answer is precomputed in :attr:`default`.
    """

    __slots__ = ("plugin", "by_consumer", "route_service", "consumer_only", "fallback", "default")

    def __init__(self, plugin: LoadedPlugin) -> None:
        self.plugin = plugin
        self.by_consumer: dict[str, Row] = {}
        self.route_service: Row | None = None
        self.consumer_only: dict[str, Row] = {}
        self.fallback: Row | None = None
        self.default: Row | None = None

    def resolve(self, consumer_id: str | None) -> Row | None:
        """The plugin row that runs for a request by ``consumer_id`` (or None)."""
        if consumer_id is not None:
            row = self.by_consumer.get(consumer_id)
            if row is not None:
                return row
            if self.route_service is not None:
                return self.route_service
            row = self.consumer_only.get(consumer_id)
            if row is not None:
                return row
        return self.default


class Snapshot:
    """Everything the proxy needs, indexed for constant-time lookups."""

    def __init__(
        self,
        rows: dict[str, list[Row]],
        plugins: PluginSet,
        version: int = 0,
        built_at: float | None = None,
    ) -> None:
        self.version = version
        #: When the rows were read (``ttl`` values in them count down from here).
        self.built_at = built_at
        self.plugins = plugins
        self.rows = rows
        self.services = {r["id"]: r for r in rows.get("services", ())}
        self.routes = {r["id"]: r for r in rows.get("routes", ())}
        self.upstreams_by_name = {r["name"]: r for r in rows.get("upstreams", ())}
        self.targets_by_upstream: dict[str, list[Row]] = {}
        for target in rows.get("targets", ()):
            self.targets_by_upstream.setdefault(_fk(target, "upstream") or "", []).append(target)
        self.router = Router(list(rows.get("routes", ())), self.services)
        self._index_certificates(rows)
        self._index_plugins(rows.get("plugins", ()), plugins)
        self._chains: dict[tuple[str | None, str | None], tuple[PluginEntry, ...]] = {}
        self._plans: dict[str, Any] = {}
        self.rewrite_plugins = tuple(pr for pr in self.global_plugins if "rewrite" in pr[0].phases)
        #: Whether any configured plugin has a log hook (else nothing waits for the last byte).
        self.log_phase = any("log" in plugins.by_name[name].phases for name in self._plugin_rows)

    # -- certificates ------------------------------------------------------------
    def _index_certificates(self, rows: dict[str, list[Row]]) -> None:
        certs = {r["id"]: r for r in rows.get("certificates", ())}
        self.certificates = certs
        self.certificates_by_sni: dict[str, Row] = {}
        for sni in rows.get("snis", ()):
            cert = certs.get(_fk(sni, "certificate") or "")
            if cert is not None:
                self.certificates_by_sni[sni["name"]] = cert
        self.ca_certificates = {r["id"]: r for r in rows.get("ca_certificates", ())}

    # -- plugins -----------------------------------------------------------------
    def _index_plugins(self, plugin_rows: Iterable[Row], plugins: PluginSet) -> None:
        by_name: dict[str, list[Row]] = {}
        for row in plugin_rows:
            if row.get("enabled", True) and row["name"] in plugins.by_name:
                by_name.setdefault(row["name"], []).append(row)
        self._plugin_rows = by_name
        for name, loaded in plugins.by_name.items():
            loaded.handler.configure(by_name.get(name, []))
        self.global_plugins = tuple(
            (p, row)
            for p in plugins.ordered
            for row in by_name.get(p.name, ())
            if not (_fk(row, "route") or _fk(row, "service") or _fk(row, "consumer"))
        )

    def service_plan(self, service: Mapping[str, Any]) -> Any:
        """Forwarding settings of ``service``, computed once per snapshot."""
        plan = self._plans.get(service["id"])
        if plan is None:
            from kongtx.proxy.upstream import ServicePlan

            plan = self._plans[service["id"]] = ServicePlan(service)
        return plan

    def plugin_chain(self, route_id: str | None, service_id: str | None) -> tuple[PluginEntry, ...]:
        """The plugins that may run for a (route, service) pair, in run order (cached per snapshot)."""
        key = (route_id, service_id)
        chain = self._chains.get(key)
        if chain is None:
            chain = self._chains[key] = self._build_chain(route_id, service_id)
        return chain

    def _build_chain(self, route_id: str | None, service_id: str | None) -> tuple[PluginEntry, ...]:
        entries = []
        for plugin in self.plugins.ordered:
            entry = PluginEntry(plugin)
            route_only = service_only = global_row = None
            by_consumer: dict[str, list[tuple[int, Row]]] = {}
            for row in self._plugin_rows.get(plugin.name, ()):
                r, s, c = _fk(row, "route"), _fk(row, "service"), _fk(row, "consumer")
                if r is not None and r != route_id:
                    continue
                if s is not None and s != service_id:
                    continue
                if c is not None:
                    if r is not None and s is not None:
                        rank = 1
                    elif r is not None:
                        rank = 2
                    elif s is not None:
                        rank = 3
                    else:
                        entry.consumer_only[c] = row
                        continue
                    by_consumer.setdefault(c, []).append((rank, row))
                elif r is not None and s is not None:
                    entry.route_service = row
                elif r is not None:
                    route_only = row
                elif s is not None:
                    service_only = row
                else:
                    global_row = row
            entry.by_consumer = {
                c: min(rows, key=lambda x: x[0])[1] for c, rows in by_consumer.items()
            }
            entry.fallback = route_only or service_only or global_row
            entry.default = entry.route_service or entry.fallback
            if entry.default is not None or entry.by_consumer or entry.consumer_only:
                entries.append(entry)
        return tuple(entries)
