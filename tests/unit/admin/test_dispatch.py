"""Unit tests for the Admin API segment router."""

from __future__ import annotations

from kongtx.admin.dispatch import Dispatcher


async def _h() -> None:  # pragma: no cover - never awaited
    return None


def test_static_segments_win_over_parameters() -> None:
    """/plugins/enabled is not taken for /plugins/{id}."""
    router = Dispatcher()
    router.add("/plugins/:plugins", {"GET": _h})
    router.add("/plugins/enabled", {"POST": _h})
    pattern, methods, params = router.match(["plugins", "enabled"])
    assert pattern == "/plugins/enabled" and set(methods) == {"POST"} and params == {}
    pattern, _, params = router.match(["plugins", "abc"])
    assert pattern == "/plugins/:plugins" and params == {"plugins": "abc"}


def test_backtracks_to_parameter_branch() -> None:
    """A static prefix that dead-ends falls back to the parameter branch."""
    router = Dispatcher()
    router.add("/upstreams/:upstreams/targets/all", {"GET": _h})
    router.add("/upstreams/:upstreams/targets/:targets/healthy", {"PUT": _h})
    pattern, _, params = router.match(["upstreams", "u", "targets", "all", "healthy"])
    assert pattern == "/upstreams/:upstreams/targets/:targets/healthy"
    assert params == {"upstreams": "u", "targets": "all"}


def test_unknown_path_and_merge() -> None:
    """Unknown paths return None; re-adding a pattern merges its verbs."""
    router = Dispatcher()
    router.add("/services", {"GET": _h})
    router.add("/services", {"POST": _h})
    assert router.match(["nope"]) is None
    assert set(router.match(["services"])[1]) == {"GET", "POST"}
    assert router.patterns == ["/services"]
