"""The in-memory configuration the proxy reads on every request, built once and then updated
one change at a time.

:class:`Snapshot` is built whole from the routing entities' rows at start (and
after a lost cluster connection); afterwards :meth:`Snapshot.apply` takes one
change (entity, operation, row) and touches only what depends on it: one route's
router entries, the plugin chains of the routes and services a plugin row is
scoped to (all chains for a global one), one service's routes and forwarding
plan, one certificate's SNIs. Each plugin configuration is compiled once, when
its row arrives (:meth:`kongtx.plugins.base.PluginHandler.compile`), never per
request, and building has no side effect on the shared handler objects.

Consistency for requests in flight: the reactor runs one thing at a time, so a
change is applied between two steps of a request, never during one. A request
reads the route, the service row and the plugin chain (with each plugin's
compiled configuration) in the same step, and keeps them for its whole life on
its context; forwarding settings derived later (:meth:`Snapshot.service_plan`)
are checked against the service row the request holds, so a request never mixes
a service's old row with its new settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from kongtx.plugins.base import CompiledConfig, LoadedPlugin, PluginHandler, PluginSet
from kongtx.router import Router
from kongtx.store.events import DELETE

Row = dict[str, Any]
ChainKey = tuple["str | None", "str | None"]

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


#: Rows indexed per build step where indexing is a dict store (a route's router
#: entries or a plugin's compilation are one step each).
_ROWS_PER_STEP = 500


def _index_rows(rows: Iterable[Row], table: dict[str, Row]) -> Iterator[None]:
    for i, row in enumerate(rows):
        table[row["id"]] = row
        if i % _ROWS_PER_STEP == 0:
            yield None


def _fk(row: Mapping[str, Any], field: str) -> str | None:
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
    """Everything the proxy needs, indexed for constant-time lookups.

    :param rows: the rows of :data:`ROUTING_ENTITIES`, by entity.
    :param plugins: the plugins enabled on this node.
    """

    def __init__(
        self,
        rows: Mapping[str, Iterable[Row]],
        plugins: PluginSet,
        version: int = 0,
        built_at: float | None = None,
    ) -> None:
        for _ in self._build(rows, plugins, version, built_at):
            pass

    @classmethod
    def in_steps(
        cls,
        rows: Mapping[str, Iterable[Row]],
        plugins: PluginSet,
        version: int = 0,
        built_at: float | None = None,
    ) -> tuple[Snapshot, Iterator[None]]:
        """A snapshot and the generator that builds it, one small step per ``next()``.

        The reactor can serve between steps (:mod:`kongtx.slices`); the snapshot must
        not be read before the generator is exhausted. Building has no side effect
        outside the new snapshot: :meth:`activate` hands plugins their rows once it
        serves.
        """
        snapshot = cls.__new__(cls)
        return snapshot, snapshot._build(rows, plugins, version, built_at)

    def _build(
        self,
        rows: Mapping[str, Iterable[Row]],
        plugins: PluginSet,
        version: int,
        built_at: float | None,
    ) -> Iterator[None]:
        self.version = version
        #: When the rows were read.
        self.built_at = built_at
        self.plugins = plugins
        self.services: dict[str, Row] = {}
        self.routes: dict[str, Row] = {}
        self._routes_by_service: dict[str, set[str]] = {}
        self.upstreams: dict[str, Row] = {}
        self.upstreams_by_name: dict[str, Row] = {}
        self.targets: dict[str, Row] = {}
        self.certificates: dict[str, Row] = {}
        self.snis: dict[str, Row] = {}
        self.certificates_by_sni: dict[str, Row] = {}
        self._snis_by_certificate: dict[str, set[str]] = {}  # certificate id -> SNI ids
        self.ca_certificates: dict[str, Row] = {}
        self._plans: dict[str, Any] = {}
        # certificate or CA certificate id -> the services whose plan was compiled with it
        self._plans_using: dict[str, set[str]] = {}
        # plugin rows (enabled, of a loaded plugin; their config compiled) and their scopes
        self._plugin_rows: dict[str, Row] = {}
        self._by_route: dict[str, dict[str, Row]] = {}
        self._by_service: dict[str, dict[str, Row]] = {}
        self._unscoped: dict[str, Row] = {}  # global or consumer-only: in every chain
        self._log_rows = 0
        self._by_name: dict[str, dict[str, Row]] = {}
        self._chains: dict[ChainKey, tuple[PluginEntry, ...]] = {}
        self.global_plugins: tuple[tuple[LoadedPlugin, Row], ...] = ()
        self.rewrite_plugins: tuple[tuple[LoadedPlugin, Row], ...] = ()
        for entity, table in (
            ("services", self.services),
            ("upstreams", self.upstreams),
            ("targets", self.targets),
            ("certificates", self.certificates),
            ("snis", self.snis),
            ("ca_certificates", self.ca_certificates),
        ):
            yield from _index_rows(rows.get(entity, ()), table)
        for i, route in enumerate(rows.get("routes", ())):
            self.routes[route["id"]] = route
            self._link_route(route)
            if i % _ROWS_PER_STEP == 0:
                yield None
        self.upstreams_by_name = {r["name"]: r for r in self.upstreams.values()}
        for i, sni in enumerate(self.snis.values()):
            self._link_sni(sni)
            if i % _ROWS_PER_STEP == 0:
                yield None
        self.router = Router((), self.services)
        yield from self.router.fill(self.routes.values(), self.services)
        for row in rows.get("plugins", ()):
            self._add_plugin(row)
            yield None
        self._refresh_globals()

    def activate(self) -> None:
        """Hand each resource-owning plugin (one defining ``configure``) its rows: called
        once this snapshot is the one serving (building it changed nothing shared)."""
        for loaded in self.plugins.ordered:
            self._configure(loaded.name)

    @property
    def rows(self) -> dict[str, list[Row]]:
        """Every row held, by entity (built on each call: not for the request path)."""
        return {
            "services": list(self.services.values()),
            "routes": list(self.routes.values()),
            "plugins": list(self._plugin_rows.values()),
            "upstreams": list(self.upstreams.values()),
            "targets": list(self.targets.values()),
            "certificates": list(self.certificates.values()),
            "snis": list(self.snis.values()),
            "ca_certificates": list(self.ca_certificates.values()),
        }

    @property
    def targets_by_upstream(self) -> dict[str, list[Row]]:
        """Targets grouped by upstream id (built on each call)."""
        out: dict[str, list[Row]] = {}
        for target in self.targets.values():
            out.setdefault(_fk(target, "upstream") or "", []).append(target)
        return out

    # -- incremental updates -----------------------------------------------------------
    def apply(self, entity: str, op: str, id: str, row: Row | None) -> bool:
        """Apply one committed change; ``row`` is the row now stored (None: deleted).

        :returns: whether this snapshot holds that entity (False: nothing to do here).
        """
        if op == DELETE:
            row = None
        handler = _APPLY.get(entity)
        if handler is None:
            return False
        handler(self, id, row)
        self.version += 1
        return True

    def _apply_route(self, id: str, row: Row | None) -> None:
        old = self.routes.get(id)
        if old is not None:
            self._forget_chains_of_route(id)
            self._unlink_route(old)
            del self.routes[id]
        if row is None:
            self.router.remove(id)
            return
        self.routes[id] = row
        self._link_route(row)
        sid = _fk(row, "service")
        self.router.add(row, self.services.get(sid) if sid else None)

    def _apply_service(self, id: str, row: Row | None) -> None:
        if row is None:
            self.services.pop(id, None)
        else:
            self.services[id] = row
        self._plans.pop(id, None)
        self._forget_chains_of_service(id)
        for rid in tuple(self._routes_by_service.get(id, ())):
            route = self.routes[rid]
            self.router.add(route, row)

    def _apply_plugin(self, id: str, row: Row | None) -> None:
        old = self._plugin_rows.get(id)
        if old is not None:
            self._remove_plugin(old)
        if row is not None:
            self._add_plugin(row)
        if _unscoped(old) or _unscoped(row):
            self._refresh_globals()
        for name in {r["name"] for r in (old, row) if r is not None}:
            self._configure(name)

    def _apply_upstream(self, id: str, row: Row | None) -> None:
        old = self.upstreams.pop(id, None)
        if old is not None and self.upstreams_by_name.get(old["name"]) is old:
            del self.upstreams_by_name[old["name"]]
        if row is not None:
            self.upstreams[id] = row
            self.upstreams_by_name[row["name"]] = row

    def _apply_target(self, id: str, row: Row | None) -> None:
        if row is None:
            self.targets.pop(id, None)
        else:
            self.targets[id] = row

    def _apply_certificate(self, id: str, row: Row | None) -> None:
        if row is None:
            self.certificates.pop(id, None)
        else:
            self.certificates[id] = row
        for sni_id in self._snis_by_certificate.get(id, ()):
            self._link_sni(self.snis[sni_id])
        self._forget_plans_using(id)

    def _apply_sni(self, id: str, row: Row | None) -> None:
        old = self.snis.pop(id, None)
        if old is not None:
            self.certificates_by_sni.pop(old["name"], None)
            cert_id = _fk(old, "certificate")
            ids = self._snis_by_certificate.get(cert_id) if cert_id is not None else None
            if ids is not None:
                ids.discard(id)
                if not ids:
                    del self._snis_by_certificate[cert_id]  # type: ignore[arg-type]
        if row is not None:
            self.snis[id] = row
            self._link_sni(row)

    def _apply_ca_certificate(self, id: str, row: Row | None) -> None:
        if row is None:
            self.ca_certificates.pop(id, None)
        else:
            self.ca_certificates[id] = row
        self._forget_plans_using(id)

    # -- indexes -------------------------------------------------------------------------
    def _link_route(self, route: Row) -> None:
        sid = _fk(route, "service")
        if sid is not None:
            self._routes_by_service.setdefault(sid, set()).add(route["id"])

    def _unlink_route(self, route: Row) -> None:
        sid = _fk(route, "service")
        ids = self._routes_by_service.get(sid) if sid is not None else None
        if ids is not None:
            ids.discard(route["id"])
            if not ids:
                del self._routes_by_service[sid]  # type: ignore[arg-type]

    def _link_sni(self, sni: Row) -> None:
        cert_id = _fk(sni, "certificate")
        if cert_id is not None:
            self._snis_by_certificate.setdefault(cert_id, set()).add(sni["id"])
        cert = self.certificates.get(cert_id or "")
        if cert is not None:
            self.certificates_by_sni[sni["name"]] = cert
        else:
            self.certificates_by_sni.pop(sni["name"], None)

    # -- plugins -------------------------------------------------------------------------
    def _add_plugin(self, row: Row) -> None:
        loaded = self.plugins.by_name.get(row["name"])
        if loaded is None or not row.get("enabled", True):
            return
        row = {**row, "config": CompiledConfig.of(loaded.handler, row.get("config") or {}, row)}
        self._plugin_rows[row["id"]] = row
        self._by_name.setdefault(row["name"], {})[row["id"]] = row
        if "log" in loaded.phases:
            self._log_rows += 1
        rid, sid = _fk(row, "route"), _fk(row, "service")
        if rid is not None:
            self._by_route.setdefault(rid, {})[row["id"]] = row
            self._forget_chains_of_route(rid)
        elif sid is not None:
            self._by_service.setdefault(sid, {})[row["id"]] = row
            self._forget_chains_of_service(sid)
        else:
            self._unscoped[row["id"]] = row
            self._chains = {}

    def _remove_plugin(self, row: Row) -> None:
        del self._plugin_rows[row["id"]]
        _drop(self._by_name, row["name"], row["id"])
        if "log" in self.plugins.by_name[row["name"]].phases:
            self._log_rows -= 1
        rid, sid = _fk(row, "route"), _fk(row, "service")
        if rid is not None:
            _drop(self._by_route, rid, row["id"])
            self._forget_chains_of_route(rid)
        elif sid is not None:
            _drop(self._by_service, sid, row["id"])
            self._forget_chains_of_service(sid)
        else:
            self._unscoped.pop(row["id"], None)
            self._chains = {}

    def _configure(self, name: str) -> None:
        """Hand a resource-owning plugin (one defining ``configure``) its current rows."""
        loaded = self.plugins.by_name.get(name)
        if loaded is not None and type(loaded.handler).configure is not PluginHandler.configure:
            loaded.handler.configure(list(self._by_name.get(name, {}).values()))

    def _refresh_globals(self) -> None:
        order = {p.name: i for i, p in enumerate(self.plugins.ordered)}
        rows = sorted(
            (r for r in self._unscoped.values() if _fk(r, "consumer") is None),
            key=lambda r: order[r["name"]],
        )
        self.global_plugins = tuple((self.plugins.by_name[r["name"]], r) for r in rows)
        self.rewrite_plugins = tuple(pr for pr in self.global_plugins if "rewrite" in pr[0].phases)

    @property
    def log_phase(self) -> bool:
        """Whether any configured plugin has a log hook (else nothing waits for the last byte)."""
        return self._log_rows > 0

    def _forget_chains_of_route(self, route_id: str) -> None:
        route = self.routes.get(route_id)
        sid = _fk(route, "service") if route is not None else None
        self._chains.pop((route_id, sid), None)
        self._chains.pop((route_id, None), None)

    def _forget_chains_of_service(self, service_id: str) -> None:
        self._chains.pop((None, service_id), None)
        for rid in self._routes_by_service.get(service_id, ()):
            self._chains.pop((rid, service_id), None)

    # -- lookups ---------------------------------------------------------------------------
    def service_plan(self, service: Mapping[str, Any]) -> Any:
        """Forwarding settings of ``service`` (timeouts, retries, upstream TLS options),
        compiled once per version of its row and of the certificates it names."""
        plan = self._plans.get(service["id"])
        if plan is None or plan.service is not service:
            from kongtx.proxy.upstream import ServicePlan

            plan = ServicePlan(service, self.certificates, self.ca_certificates)
            if self.services.get(service["id"]) is service:
                self._plans[service["id"]] = plan
                for dep in plan.depends_on:
                    self._plans_using.setdefault(dep, set()).add(service["id"])
        return plan

    def _forget_plans_using(self, certificate_id: str) -> None:
        """Drop the plans compiled with a (CA) certificate that changed."""
        for service_id in self._plans_using.pop(certificate_id, ()):
            self._plans.pop(service_id, None)

    def plugin_chain(self, route_id: str | None, service_id: str | None) -> tuple[PluginEntry, ...]:
        """The plugins that may run for a (route, service) pair, in run order (built on first
        use, kept until a change touches it)."""
        key = (route_id, service_id)
        chain = self._chains.get(key)
        if chain is None:
            chain = self._chains[key] = self._build_chain(route_id, service_id)
        return chain

    def _build_chain(self, route_id: str | None, service_id: str | None) -> tuple[PluginEntry, ...]:
        by_name: dict[str, list[Row]] = {}
        sources = [self._unscoped.values()]
        if route_id is not None and route_id in self._by_route:
            sources.append(self._by_route[route_id].values())
        if service_id is not None and service_id in self._by_service:
            sources.append(self._by_service[service_id].values())
        for source in sources:
            for row in source:
                by_name.setdefault(row["name"], []).append(row)
        entries = []
        for plugin in self.plugins.ordered:
            rows = by_name.get(plugin.name)
            if not rows:
                continue
            entry = _chain_entry(plugin, rows, route_id, service_id)
            if entry is not None:
                entries.append(entry)
        return tuple(entries)


def _chain_entry(
    plugin: LoadedPlugin, rows: list[Row], route_id: str | None, service_id: str | None
) -> PluginEntry | None:
    entry = PluginEntry(plugin)
    route_only = service_only = global_row = None
    by_consumer: dict[str, list[tuple[int, Row]]] = {}
    for row in sorted(rows, key=lambda r: r["id"]):
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
    entry.by_consumer = {c: min(found, key=lambda x: x[0])[1] for c, found in by_consumer.items()}
    entry.fallback = route_only or service_only or global_row
    entry.default = entry.route_service or entry.fallback
    if entry.default is None and not entry.by_consumer and not entry.consumer_only:
        return None
    return entry


def _unscoped(row: Row | None) -> bool:
    return row is not None and _fk(row, "route") is None and _fk(row, "service") is None


def _drop(index: dict[str, dict[str, Row]], key: str, row_id: str) -> None:
    rows = index.get(key)
    if rows is not None:
        rows.pop(row_id, None)
        if not rows:
            del index[key]


_APPLY = {
    "routes": Snapshot._apply_route,
    "services": Snapshot._apply_service,
    "plugins": Snapshot._apply_plugin,
    "upstreams": Snapshot._apply_upstream,
    "targets": Snapshot._apply_target,
    "certificates": Snapshot._apply_certificate,
    "snis": Snapshot._apply_sni,
    "ca_certificates": Snapshot._apply_ca_certificate,
}
