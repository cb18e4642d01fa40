"""ConfigCache: one compiled object per plugin config object, kept across snapshots while unchanged."""

from __future__ import annotations

import pytest

from kongtx.plugins.base import ConfigCache


def test_builds_once_per_config_object() -> None:
    """get() builds on first use and returns the same object for the same config."""
    built: list[dict] = []
    cache = ConfigCache(lambda conf: built.append(conf) or {"from": conf["x"]})
    conf = {"x": 1}
    assert cache.get(conf) is cache.get(conf)
    assert built == [conf]
    assert cache.get({"x": 1}) == {"from": 1}
    assert len(built) == 2  # an equal but different config object is compiled on its own


def test_reset_keeps_unchanged_configs_and_drops_the_others() -> None:
    """reset() takes plugin rows or configs, reuses still-present entries, drops stale ones."""
    calls: list[int] = []
    cache = ConfigCache(lambda conf: calls.append(conf["x"]) or object())
    kept, dropped = {"x": 1}, {"x": 2}
    cache.reset([{"name": "p", "config": kept}, dropped])
    first = cache.get(kept)
    assert calls == [1, 2]
    cache.reset([{"config": kept}])
    assert cache.get(kept) is first
    cache.get(dropped)
    assert calls == [1, 2, 2]  # rebuilt: it had been dropped


def test_deferred_errors_surface_at_request_time() -> None:
    """A factory error listed in defer_errors does not break reset(); get() raises it."""

    def factory(conf: dict) -> object:
        if conf.get("bad"):
            raise ValueError("bad config")
        return object()

    cache = ConfigCache(factory, defer_errors=(ValueError,))
    bad = {"bad": True}
    cache.reset([bad, {"bad": False}])
    with pytest.raises(ValueError):
        cache.get(bad)
