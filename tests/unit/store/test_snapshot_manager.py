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

    def load_all(self) -> Deferred[Any]:
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
