"""collection_paused: no automatic cyclic collection while a configuration is replaced."""

from __future__ import annotations

import gc

import pytest

from kongtx.heap import collection_paused


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
    """A process that froze its heap at start has the new configuration frozen too; one
    that never froze is left alone."""
    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setattr(gc, "get_freeze_count", lambda: 0)
    with collection_paused():
        pass
    assert frozen == []
    monkeypatch.setattr(gc, "get_freeze_count", lambda: 1000)
    with pytest.raises(RuntimeError):
        with collection_paused():
            raise RuntimeError("a failed replacement still restores collection")
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
