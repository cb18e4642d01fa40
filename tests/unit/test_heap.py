"""collection_paused: no automatic cyclic collection while a configuration is replaced."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from kongtx.heap import collection_paused
from tests.support.runtime import refcount_cleanup


def test_collection_is_paused_inside_and_restored_after_nested_blocks() -> None:
    """Overlapping blocks keep collection off until the last one ends."""
    assert gc.isenabled()
    outer = collection_paused()
    outer.__enter__()
    with collection_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the outer block still runs
    outer.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_frozen_heap_is_frozen_again_after_the_replacement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process that froze its heap at start has the new configuration frozen too (not the
    garbage of a failed one); one that never froze is left alone."""
    frozen: list[bool] = []
    # raising=False: PyPy's gc has neither function (kongtx.heap looks them up).
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True), raising=False)
    monkeypatch.setattr(gc, "get_freeze_count", lambda: 0, raising=False)
    with collection_paused() as pause:
        pause.replaced()
    assert frozen == []
    monkeypatch.setattr(gc, "get_freeze_count", lambda: 1000)
    with collection_paused() as pause:
        pause.replaced()
    assert frozen == [True]
    with collection_paused():
        pass  # invalid input: nothing replaced
    with pytest.raises(RuntimeError):
        with collection_paused():
            raise RuntimeError("a failed replacement: collection restored, nothing frozen")
    assert frozen == [True] and gc.isenabled()


def test_collection_stays_off_if_it_was_off() -> None:
    """A process that disabled collection itself keeps it disabled."""
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


@refcount_cleanup
def test_release_in_thread_frees_in_the_thread_pool() -> None:
    """The holder is emptied by a pool thread (the last reference goes there); a reactor
    without threads empties it at once."""
    import threading

    from twisted.internet.testing import MemoryReactorClock

    from kongtx.heap import release_in_thread

    freed_in: list[str] = []

    class Big:
        def __del__(self) -> None:
            freed_in.append(threading.current_thread().name)

    class Pool:
        def callInThreadWithCallback(self, on_result: Any, fn: Any) -> None:  # noqa: N802
            worker = threading.Thread(target=lambda: on_result(True, fn()), name="pool-worker")
            worker.start()
            worker.join()

    class ThreadedReactor:
        def getThreadPool(self) -> Pool:  # noqa: N802
            return Pool()

        def callFromThread(self, fn: Any, *args: Any) -> None:  # noqa: N802
            fn(*args)

    holder: list[Any] = [Big()]
    release_in_thread(ThreadedReactor(), holder)
    assert holder == [] and freed_in == ["pool-worker"]
    holder = [Big()]
    release_in_thread(MemoryReactorClock(), holder)
    assert holder == [] and freed_in == ["pool-worker", threading.current_thread().name]
