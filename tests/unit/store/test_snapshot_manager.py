"""SnapshotManager: coalesced rebuilds, atomic swaps, surviving failures (no reactor)."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from kongtx.store.events import ChangeEvent
from kongtx.store.snapshot_manager import SnapshotManager


class FakeDAO:
    """load_all returns Deferreds the test fires by hand."""

    def __init__(self) -> None:
        self.listeners: list[Any] = []
        self.calls: list[Deferred[Any]] = []
        self.version = 0

    def add_change_listener(self, cb: Any) -> None:
        self.listeners.append(cb)

    def remove_change_listener(self, cb: Any) -> None:
        self.listeners.remove(cb)

    def load_all(self, only: Any = None) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.calls.append(d)
        return d

    def change(self) -> None:
        for cb in list(self.listeners):
            cb(ChangeEvent("services", "update", "x"))

    def answer(self, rows: Any) -> None:
        self.calls.pop(0).callback(rows)

    def fail(self) -> None:
        self.calls.pop(0).errback(RuntimeError("db down"))


def started(dao: FakeDAO, clock: Clock, build: Any = None) -> SnapshotManager[Any]:
    manager: SnapshotManager[Any] = SnapshotManager(
        dao, build or (lambda rows: ("snap", rows)), clock
    )
    d = Deferred.fromCoroutine(manager.start())
    dao.answer({"v": 0})
    assert d.called
    return manager


def test_start_builds_first_snapshot() -> None:
    """start() loads everything once and keeps the built snapshot."""
    dao, clock = FakeDAO(), Clock()
    manager = started(dao, clock)
    assert manager.current == ("snap", {"v": 0}) and manager.version == 1


def test_burst_of_changes_coalesces_to_one_more_rebuild() -> None:
    """Ten events during a rebuild cause exactly one extra rebuild."""
    dao, clock = FakeDAO(), Clock()
    manager = started(dao, clock)
    dao.change()
    assert len(dao.calls) == 1 and manager.busy
    for _ in range(10):
        dao.change()
    dao.answer({"v": 1})
    assert manager.current == ("snap", {"v": 1})
    assert len(dao.calls) == 1  # the single pending rebuild
    dao.answer({"v": 2})
    assert manager.current == ("snap", {"v": 2}) and not manager.busy and not dao.calls


def test_swap_listeners_see_each_new_snapshot() -> None:
    """Swap listeners are called with the new snapshot after the swap."""
    dao, clock = FakeDAO(), Clock()
    manager = started(dao, clock)
    seen: list[Any] = []
    manager.add_swap_listener(lambda snap: seen.append((snap, manager.current is snap)))
    dao.change()
    dao.answer({"v": 1})
    assert seen == [(("snap", {"v": 1}), True)]


def test_failed_rebuild_keeps_last_snapshot_and_retries() -> None:
    """A failing load keeps serving the old snapshot and retries after the delay."""
    dao, clock = FakeDAO(), Clock()
    manager = started(dao, clock)
    old = manager.current
    dao.change()
    dao.fail()
    assert manager.current is old and not dao.calls
    clock.advance(0.99)
    assert not dao.calls
    clock.advance(0.01)
    assert len(dao.calls) == 1
    dao.answer({"v": 9})
    assert manager.current == ("snap", {"v": 9})


def test_failing_build_is_survived() -> None:
    """An exception in build() does not replace the current snapshot."""
    dao, clock = FakeDAO(), Clock()
    builds = iter([("ok",), RuntimeError("bad config")])

    def build(rows: Any) -> Any:
        item = next(builds)
        if isinstance(item, Exception):
            raise item
        return item

    manager = started(dao, clock, build)
    dao.change()
    dao.answer({})
    assert manager.current == ("ok",)


def test_stop_unsubscribes() -> None:
    """After stop() change events no longer trigger rebuilds."""
    dao, clock = FakeDAO(), Clock()
    manager = started(dao, clock)
    manager.stop()
    assert dao.listeners == []
    manager.request_rebuild()
    assert not dao.calls


# -- incremental updates -------------------------------------------------------------


class Applied:
    """A snapshot that records the changes applied to it (raising on ``fail``)."""

    def __init__(self, rows: Any) -> None:
        self.rows = rows
        self.applied: list[tuple[str, str, str, Any]] = []

    def apply(self, entity: str, op: str, id: str, row: Any) -> bool:
        if row == "fail":
            raise ValueError("cannot apply")
        self.applied.append((entity, op, id, row))
        return True


class SelectingDAO(FakeDAO):
    def __init__(self) -> None:
        super().__init__()
        self.selects: list[Deferred[Any]] = []

    def select(self, entity: str, id: str) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.selects.append(d)
        return d

    def fire(self, event: ChangeEvent) -> None:
        for cb in list(self.listeners):
            cb(event)


def incremental(dao: SelectingDAO) -> SnapshotManager[Any]:
    manager: SnapshotManager[Any] = SnapshotManager(
        dao, Applied, Clock(), entities=("routes", "services")
    )
    Deferred.fromCoroutine(manager.start())
    dao.answer({})
    return manager


def test_an_event_with_its_row_is_applied_at_once_without_a_rebuild() -> None:
    """A local write's event is applied synchronously; no load_all, no swap."""
    dao = SelectingDAO()
    manager = incremental(dao)
    swaps: list[Any] = []
    updates: list[Any] = []
    manager.add_swap_listener(swaps.append)
    manager.add_update_listener(lambda snap, ev: updates.append(ev))
    first = manager.current
    dao.fire(ChangeEvent("routes", "create", "r1", {"id": "r1"}))
    assert manager.current is first
    assert first.applied == [("routes", "create", "r1", {"id": "r1"})]
    assert dao.calls == [] and swaps == [] and len(updates) == 1
    assert manager.settled().called
    dao.fire(ChangeEvent("consumers", "create", "c1", {"id": "c1"}))  # not routing state
    assert len(first.applied) == 1


def test_events_without_rows_are_read_and_applied_in_order() -> None:
    """A remote event that did not carry its row is read by id; later events wait for it."""
    dao = SelectingDAO()
    manager = incremental(dao)
    snap = manager.current
    dao.fire(ChangeEvent("routes", "update", "r1"))
    dao.fire(ChangeEvent("routes", "delete", "r2"))
    assert snap.applied == [] and len(dao.selects) == 1
    settled = manager.settled()
    assert not settled.called
    dao.selects.pop().callback({"id": "r1", "v": 2})
    assert snap.applied == [
        ("routes", "update", "r1", {"id": "r1", "v": 2}),
        ("routes", "delete", "r2", None),
    ]
    assert settled.called


def test_unreadable_row_or_failed_apply_falls_back_to_a_full_build() -> None:
    """The database is down while reading a changed row (or the update fails): rebuild."""
    dao = SelectingDAO()
    manager = incremental(dao)
    dao.fire(ChangeEvent("routes", "update", "r1"))
    dao.selects.pop().errback(RuntimeError("db down"))
    assert len(dao.calls) == 1  # a full load_all
    dao.answer({"rebuilt": True})
    assert manager.current.rows == {"rebuilt": True}
    dao.fire(ChangeEvent("routes", "update", "r1", "fail"))
    assert len(dao.calls) == 1
    dao.answer({"again": True})
    assert manager.current.rows == {"again": True}


def test_full_reload_rebuilds() -> None:
    """FULL_RELOAD (a lost cluster connection) is the one event that rebuilds."""
    from kongtx.store.events import FULL_RELOAD

    dao = SelectingDAO()
    manager = incremental(dao)
    dao.fire(FULL_RELOAD)
    assert len(dao.calls) == 1
    dao.answer({"v": 1})
    assert manager.current.rows == {"v": 1}
