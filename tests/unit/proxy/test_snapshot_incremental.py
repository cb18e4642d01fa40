"""Incremental snapshot updates against full builds (property test with hypothesis).

Random sequences of service, route, plugin, consumer and credential writes are
applied one event at a time to one snapshot; after each, a snapshot built from
scratch from the same rows must route a set of requests to the same routes and
resolve the same plugin rows for every consumer.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kongtx.plugins.base import LoadedPlugin, PluginHandler, PluginSet
from kongtx.proxy.snapshot import Snapshot
from kongtx.store.events import CREATE, DELETE, UPDATE

Row = dict[str, Any]


class _Auth(PluginHandler):
    name = "t-auth"
    priority = 1000

    def access(self, ctx: Any, conf: Any) -> None:
        return None


class _Shape(PluginHandler):
    name = "t-shape"
    priority = 800

    def access(self, ctx: Any, conf: Any) -> None:
        return None

    def compile(self, conf: Any, plugin: Any = None) -> Any:
        return ("compiled", conf.get("n"))


class _Log(PluginHandler):
    name = "t-log"
    priority = 5

    def log(self, ctx: Any, conf: Any) -> None:
        return None


class _Module:
    __name__ = "tests.plugins"


PLUGINS = PluginSet([LoadedPlugin(h(), _Module()) for h in (_Auth, _Shape, _Log)])  # type: ignore[arg-type]
PATHS = ["/", "/a", "/a/b", "/b", "~/a/[0-9]+$", "~/c/(?<n>[a-z]+)"]
HOSTS = ["x.test", "*.test", "y.*", "y.test:8000"]
METHODS = ["GET", "POST"]
REQUESTS = [
    (method, host, path)
    for method in ("GET", "POST")
    for host in (None, "x.test", "y.test", "z.test", "y.other")
    for path in ("/", "/a", "/a/1", "/a/b/c", "/b", "/c/q", "/zzz")
]


class World:
    """The rows a store would hold, and the events its writes fire."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Row]] = {
            "services": {},
            "routes": {},
            "plugins": {},
            "consumers": {},
            "keyauth_credentials": {},
        }
        self.clock = 0
        self.issued = 0

    def new_id(self) -> str:
        """A fresh id that is the same on every run of one example (Hypothesis replays
        examples and needs their draws to be reproducible; random uuids sort differently)."""
        self.issued += 1
        return str(uuid.UUID(int=self.issued))

    def by_entity(self) -> dict[str, list[Row]]:
        return {name: list(rows.values()) for name, rows in self.rows.items()}

    def put(self, entity: str, row: Row) -> tuple[str, str, str, Row | None]:
        op = UPDATE if row["id"] in self.rows[entity] else CREATE
        self.rows[entity][row["id"]] = row
        return entity, op, row["id"], row

    def delete(self, entity: str, id: str) -> list[tuple[str, str, str, Row | None]]:
        """The events of a delete with Kong's cascades (children first, as the DAO fires)."""
        events: list[tuple[str, str, str, Row | None]] = []
        if entity in ("routes", "services", "consumers"):
            fk = entity[:-1]
            for plugin in list(self.rows["plugins"].values()):
                if (plugin.get(fk) or {}).get("id") == id:
                    events += self.delete("plugins", plugin["id"])
        if entity == "consumers":
            for cred in list(self.rows["keyauth_credentials"].values()):
                if cred["consumer"]["id"] == id:
                    events += self.delete("keyauth_credentials", cred["id"])
        self.rows[entity].pop(id, None)
        events.append((entity, DELETE, id, None))
        return events

    def stamp(self) -> int:
        self.clock += 1
        return self.clock


def _ids(rows: dict[str, Row]) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(rows)) if rows else st.nothing()


@st.composite
def _service(draw: Any, world: World) -> Row:
    existing = draw(
        st.one_of(st.none(), _ids(world.rows["services"])) if world.rows["services"] else st.none()
    )
    return {
        "id": existing or world.new_id(),
        "name": None,
        "host": draw(st.sampled_from(["up1", "up2"])),
        "enabled": draw(st.booleans()),
        "protocol": "http",
        "port": 80,
        "path": None,
        "retries": draw(st.integers(0, 3)),
    }


@st.composite
def _route(draw: Any, world: World) -> Row:
    routes = world.rows["routes"]
    existing = draw(st.one_of(st.none(), _ids(routes))) if routes else None
    services = world.rows["services"]
    service = draw(st.one_of(st.none(), _ids(services))) if services else None
    paths = draw(st.lists(st.sampled_from(PATHS), max_size=2, unique=True))
    hosts = draw(st.lists(st.sampled_from(HOSTS), max_size=2, unique=True))
    methods = draw(st.lists(st.sampled_from(METHODS), max_size=1, unique=True))
    created = routes[existing]["created_at"] if existing else world.stamp()
    return {
        "id": existing or world.new_id(),
        "service": {"id": service} if service else None,
        "paths": paths or None,
        "hosts": hosts or None,
        "methods": methods or None,
        "headers": draw(st.sampled_from([None, {"x-v": ["1"]}])),
        "protocols": ["http", "https"],
        "regex_priority": draw(st.integers(0, 2)),
        "strip_path": True,
        "created_at": created,
    }


@st.composite
def _plugin(draw: Any, world: World) -> Row | None:
    name = draw(st.sampled_from(["t-auth", "t-shape", "t-log"]))
    scope: dict[str, Any] = {"route": None, "service": None, "consumer": None}
    for field, entity in (("route", "routes"), ("service", "services"), ("consumer", "consumers")):
        rows = world.rows[entity]
        if rows and draw(st.booleans()):
            scope[field] = {"id": draw(_ids(rows))}
    key = (name, *(str(v) for v in scope.values()))
    for other in world.rows["plugins"].values():
        if (other["name"], *(str(other[k]) for k in scope)) == key:
            existing = other["id"]
            break
    else:
        existing = None
    return {
        "id": existing or world.new_id(),
        "name": name,
        **scope,
        "enabled": draw(st.booleans()),
        "protocols": ["http", "https"],
        "config": {"n": draw(st.integers(0, 5))},
    }


@st.composite
def _step(draw: Any, world: World) -> list[tuple[str, str, str, Row | None]]:
    kind = draw(
        st.sampled_from(
            ["service", "route", "route", "plugin", "plugin", "consumer", "credential", "delete"]
        )
    )
    if kind == "service":
        return [world.put("services", draw(_service(world)))]
    if kind == "route":
        return [world.put("routes", draw(_route(world)))]
    if kind == "plugin":
        return [world.put("plugins", draw(_plugin(world)))]
    if kind == "consumer":
        return [world.put("consumers", {"id": world.new_id(), "username": None})]
    if kind == "credential":
        consumers = world.rows["consumers"]
        if not consumers:
            return []
        owner = draw(_ids(consumers))
        return [
            world.put(
                "keyauth_credentials",
                {"id": world.new_id(), "consumer": {"id": owner}, "key": world.new_id()},
            )
        ]
    entity = draw(st.sampled_from(["routes", "services", "plugins", "consumers"]))
    rows = world.rows[entity]
    if not rows:
        return []
    victim = draw(_ids(rows))
    if entity == "services" and any(
        (r.get("service") or {}).get("id") == victim for r in world.rows["routes"].values()
    ):
        return []  # restricted, as in Kong: routes still use it
    return world.delete(entity, victim)


def _view(snapshot: Snapshot, world: World) -> list[Any]:
    """What requests see: the route each one matches and the plugins that run for it."""
    consumers = [None, *sorted(world.rows["consumers"])]
    out = []
    for method, host, path in REQUESTS:
        for headers in (None, _Headers({"x-v": ["1"]})):
            match = snapshot.router.match(method, host, path, headers, "http", None, 8000)
            if match is None:
                out.append(None)
                continue
            route, service = match.route, match.service
            chain = snapshot.plugin_chain(route["id"], service["id"] if service else None)
            resolved = []
            for consumer in consumers:
                for entry in chain:
                    row = entry.resolve(consumer)
                    if row is not None:
                        resolved.append((consumer, row["id"], row["config"].compiled))
            out.append((route["id"], service and dict(service), match.prefix, resolved))
    out.append(sorted(r["id"] for _, r in snapshot.global_plugins))
    out.append(snapshot.log_phase)
    return out


class _Headers:
    def __init__(self, values: dict[str, list[str]]) -> None:
        self.values = values

    def get_all(self, name: str) -> list[str]:
        return self.values.get(name, [])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_incremental_updates_match_a_full_build(data: Any) -> None:
    """After every write, the incrementally updated snapshot routes and resolves plugins
    exactly as a snapshot built from scratch from the same rows."""
    world = World()
    snapshot = Snapshot(world.by_entity(), PLUGINS)
    for _ in range(data.draw(st.integers(1, 25))):
        for entity, op, id, row in data.draw(_step(world)):
            snapshot.apply(entity, op, id, row)
        fresh = Snapshot(world.by_entity(), PLUGINS)
        assert _view(snapshot, world) == _view(fresh, world)
        assert len(snapshot.router) == len(fresh.router)


def test_a_plugin_config_is_compiled_once_and_not_per_request() -> None:
    """Compiling happens when the row arrives; chains built later reuse the same object."""
    calls: list[Any] = []

    class Counting(_Shape):
        def compile(self, conf: Any, plugin: Any = None) -> Any:
            calls.append(conf["n"])
            return object()

    plugins = PluginSet([LoadedPlugin(Counting(), _Module())])  # type: ignore[arg-type]
    plugin = {"id": "p", "name": "t-shape", "route": None, "service": None, "consumer": None}
    snapshot = Snapshot({"plugins": [{**plugin, "config": {"n": 1}}]}, plugins)
    first = snapshot.plugin_chain("r", "s")[0].default
    assert snapshot.plugin_chain("r2", None)[0].default is first
    assert calls == [1]
    snapshot.apply("plugins", UPDATE, "p", {**plugin, "config": {"n": 2}})
    assert calls == [1, 2]
    assert snapshot.plugin_chain("r", "s")[0].default["config"]["n"] == 2


class _CountingSnapshot(Snapshot):
    """Counts the SNI index entries (re)computed."""

    linked = 0

    def _link_sni(self, sni: Row) -> None:
        type(self).linked += 1
        super()._link_sni(sni)


def _cert(id: str, tag: str = "") -> Row:
    return {"id": id, "cert": f"CERT-{id}{tag}", "key": f"KEY-{id}{tag}"}


def _sni(id: str, name: str, cert_id: str) -> Row:
    return {"id": id, "name": name, "certificate": {"id": cert_id}}


def test_a_certificate_change_touches_only_its_own_snis() -> None:
    """Updating a certificate re-links its SNIs only (not the thousand others); an SNI
    moved to another certificate follows that one afterwards."""
    snis = [_sni(f"s{i}", f"n{i}.test", "big") for i in range(1000)]
    snis.append(_sni("mine", "mine.test", "small"))
    snapshot = _CountingSnapshot(
        {"certificates": [_cert("big"), _cert("small")], "snis": snis}, PluginSet([])
    )
    _CountingSnapshot.linked = 0
    snapshot.apply("certificates", UPDATE, "small", _cert("small", "v2"))
    assert _CountingSnapshot.linked == 1
    assert snapshot.certificates_by_sni["mine.test"]["cert"] == "CERT-smallv2"
    assert snapshot.certificates_by_sni["n0.test"]["cert"] == "CERT-big"

    snapshot.apply("snis", UPDATE, "mine", _sni("mine", "mine.test", "big"))
    _CountingSnapshot.linked = 0
    snapshot.apply("certificates", UPDATE, "small", _cert("small", "v3"))
    assert _CountingSnapshot.linked == 0
    assert snapshot.certificates_by_sni["mine.test"]["cert"] == "CERT-big"
    snapshot.apply("certificates", DELETE, "big", None)
    assert "mine.test" not in snapshot.certificates_by_sni
    assert "n999.test" not in snapshot.certificates_by_sni


def _https_service(id: str, **tls: Any) -> Row:
    return {"id": id, "name": id, "host": "up.test", "port": 443, "protocol": "https", **tls}


def test_service_plans_hold_upstream_tls_options_and_follow_certificate_changes() -> None:
    """A service's plan compiles its TLS options from the snapshot's (CA) certificates; a CA
    or client certificate change recompiles the plans of the services naming it, and only
    those."""
    ca = {"id": "ca1", "cert": "CA-PEM-1"}
    verified = _https_service(
        "v", tls_verify=True, ca_certificates=["ca1"], client_certificate={"id": "c1"}
    )
    plain = _https_service("p")
    snapshot = Snapshot(
        {"services": [verified, plain], "certificates": [_cert("c1")], "ca_certificates": [ca]},
        PluginSet([]),
    )
    plan = snapshot.service_plan(verified)
    other = snapshot.service_plan(plain)
    assert plan._tls_options == {
        "verify": True,
        "verify_depth": None,
        "ca_pems": ("CA-PEM-1",),
        "client_cert": ("CERT-c1", "KEY-c1"),
    }
    assert snapshot.service_plan(verified) is plan  # compiled once
    snapshot.apply("ca_certificates", UPDATE, "ca1", {"id": "ca1", "cert": "CA-PEM-2"})
    recompiled = snapshot.service_plan(verified)
    assert recompiled is not plan and recompiled._tls_options["ca_pems"] == ("CA-PEM-2",)
    assert snapshot.service_plan(plain) is other
    snapshot.apply("certificates", UPDATE, "c1", _cert("c1", "v2"))
    again = snapshot.service_plan(verified)
    assert again is not recompiled and again._tls_options["client_cert"] == (
        "CERT-c1v2",
        "KEY-c1v2",
    )
    assert snapshot.service_plan(plain) is other
