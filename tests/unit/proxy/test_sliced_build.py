"""Full snapshot builds in slices: the reactor runs between slices, the old snapshot serves
until the swap, and changes arriving during a build reach the new snapshot (fake clock)."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from kongtx.plugins.base import LoadedPlugin, PluginHandler, PluginSet
from kongtx.proxy.snapshot import ROUTING_ENTITIES, Snapshot
from kongtx.slices import SliceRunner
from kongtx.store.events import CREATE, FULL_RELOAD, ChangeEvent
from kongtx.store.snapshot_manager import SnapshotManager

Rows = dict[str, list[dict[str, Any]]]
SERVICE = {"id": "s", "name": "s", "host": "up", "port": 80, "protocol": "http", "enabled": True}


def _route(name: str) -> dict[str, Any]:
    return {
        "id": f"id-{name}",
        "name": name,
        "paths": [f"/{name}"],
        "protocols": ["http"],
        "service": {"id": "s"},
        "regex_priority": 0,
        "updated_at": 1,
    }


def _rows(*names: str) -> Rows:
    return {"services": [SERVICE], "routes": [_route(n) for n in names]}


def _routed(snapshot: Any, name: str) -> str | None:
    match = snapshot.router.match("GET", None, f"/{name}", None, "http")
    return None if match is None else str(match.route["name"])


class _Store:
    """A DAO answering ``load_all`` at once with ``rows`` (changed by the test)."""

    def __init__(self, rows: Rows) -> None:
        self.rows = rows
        self.listeners: list[Any] = []

    def add_change_listener(self, cb: Any) -> None:
        self.listeners.append(cb)

    def load_all(self, only: Any = None) -> Deferred[Rows]:
        return succeed(self.rows)

    def fire(self, event: ChangeEvent) -> None:
        for cb in list(self.listeners):
            cb(event)


def _run_out(clock: Clock, d: Deferred[Any]) -> None:
    """Run every call due now, and those they schedule (``Clock.advance(0)``)."""
    clock.advance(0)
    assert d.called


def test_timers_run_between_the_slices_of_a_build() -> None:
    """A large build gives the reactor back after each slice: a timer due now runs after
    the first slice, before the build ends, and the build still produces the whole snapshot."""
    clock = Clock()
    runner = SliceRunner(clock, budget=0)
    names = [f"r{i}" for i in range(300)]
    snapshot, steps = Snapshot.in_steps(_rows(*names), PluginSet([]))
    done = runner.run(steps)
    seen: list[tuple[int, bool]] = []
    clock.callLater(0, lambda: seen.append((runner.slices, done.called)))
    assert not done.called  # nothing built in the caller's turn
    _run_out(clock, done)
    assert seen == [(1, False)]
    assert runner.slices > 300  # one step per slice: at least one per route
    assert all(_routed(snapshot, n) == n for n in names)
    assert len(snapshot.router) == len(Snapshot(_rows(*names), PluginSet([])).router)


def test_old_snapshot_serves_until_the_swap_and_changes_during_the_build_are_kept() -> None:
    """During a full rebuild the previous snapshot keeps answering (and follows changes);
    the new one replaces it in one assignment with every change made meanwhile applied."""
    clock = Clock()
    runner = SliceRunner(clock, budget=0)
    store = _Store(_rows("stay", "old"))

    def build(rows: Rows) -> Deferred[Snapshot]:
        snapshot, steps = Snapshot.in_steps(rows, PluginSet([]))
        return runner.run(steps).addCallback(lambda _: snapshot)

    manager: SnapshotManager[Snapshot] = SnapshotManager(
        store, build, clock, entities=ROUTING_ENTITIES
    )
    started = Deferred.fromCoroutine(manager.start())
    _run_out(clock, started)
    first = manager.current
    assert first is not None and _routed(first, "old") == "old"

    store.rows = _rows("stay", *[f"n{i}" for i in range(200)])
    store.fire(FULL_RELOAD)
    rebuilt = manager.settled()
    during: list[Any] = []

    def meanwhile() -> None:
        """Runs between two slices of the build."""
        during.append((manager.busy, manager.current is first, runner.slices))
        assert _routed(first, "old") == "old" and _routed(first, "n0") is None
        # A route created while the build runs: served by the old snapshot at once ...
        late = _route("late")
        store.rows["routes"].append(late)
        store.fire(ChangeEvent("routes", CREATE, late["id"], late))
        assert _routed(manager.current, "late") == "late"

    slices = runner.slices
    clock.callLater(0, meanwhile)
    _run_out(clock, rebuilt)
    assert during == [(True, True, slices + 1)]
    # ... and by the new one, which replaced the old in one swap.
    current = manager.current
    assert current is not first and not manager.busy
    assert _routed(current, "late") == "late"
    assert _routed(current, "n199") == "n199" and _routed(current, "old") is None
    assert len(current.router) == len(Snapshot(store.rows, PluginSet([])).router)
    assert manager.settled().called  # no second build pending


def test_events_before_the_first_snapshot_are_applied_to_it() -> None:
    """A change arriving while the first build runs is not lost and costs no second build."""
    clock = Clock()
    runner = SliceRunner(clock, budget=0)
    store = _Store(_rows(*[f"r{i}" for i in range(100)]))
    builds: list[Rows] = []

    def build(rows: Rows) -> Deferred[Snapshot]:
        builds.append(rows)
        snapshot, steps = Snapshot.in_steps(rows, PluginSet([]))
        return runner.run(steps).addCallback(lambda _: snapshot)

    manager: SnapshotManager[Snapshot] = SnapshotManager(store, build, clock)
    started = Deferred.fromCoroutine(manager.start())
    early = _route("early")
    clock.callLater(0, store.fire, ChangeEvent("routes", CREATE, early["id"], early))
    _run_out(clock, started)
    assert manager.current is not None and _routed(manager.current, "early") == "early"
    assert len(builds) == 1 and manager.settled().called


class _Owning(PluginHandler):
    """A resource-owning plugin: ``configure`` receives every row of it."""

    name = "t-owning"
    priority = 10

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def access(self, ctx: Any, conf: Any) -> None:
        return None

    def configure(self, configs: list[dict[str, Any]]) -> None:
        self.seen.append(sorted(c["id"] for c in configs))


class _Module:
    __name__ = "tests.plugins"


def test_building_touches_no_shared_handler_until_the_swap() -> None:
    """A build (sliced or not) compiles plugin rows into the new snapshot only; the shared
    handler hears of them when the manager swaps the snapshot in (``activate``)."""
    clock = Clock()
    handler = _Owning()
    plugins = PluginSet([LoadedPlugin(handler, _Module())])  # type: ignore[arg-type]
    row = {"id": "p1", "name": "t-owning", "config": {}, "enabled": True}
    row.update(route=None, service=None, consumer=None)
    store = _Store({"plugins": [row]})  # type: ignore[dict-item]
    Snapshot(store.rows, plugins)
    assert handler.seen == []
    runner = SliceRunner(clock, budget=0)

    def build(rows: Rows) -> Deferred[Snapshot]:
        snapshot, steps = Snapshot.in_steps(rows, plugins)
        return runner.run(steps).addCallback(lambda _: snapshot)

    manager: SnapshotManager[Snapshot] = SnapshotManager(store, build, clock)
    started = Deferred.fromCoroutine(manager.start())
    during: list[tuple[int, bool]] = []
    clock.callLater(0, lambda: during.append((len(handler.seen), manager.current is None)))
    _run_out(clock, started)
    assert during == [(0, True)]  # mid-build: nothing handed to the handler yet
    assert handler.seen == [["p1"]]
