"""Tests for the twistd integration: kongtx.tap options and the dropin."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.python import usage

from kongtx.tap import Options


def test_options_build_config(tmp_path: Path) -> None:
    """Command-line options override the file and the environment."""
    conf = tmp_path / "kongtx.conf"
    conf.write_text("database = postgres\npg_host = from-file\nprefix = /from/file\n")
    opts = Options(env={"KONGTX_PREFIX": "/from/env", "KONGTX_PG_USER": "envuser"})
    opts.parseOptions([
        "-c", str(conf),
        "--proxy-listen", "127.0.0.1:0, 127.0.0.1:0 ssl",
        "--admin-listen", "off",
        "--database", "off",
    ])  # fmt: skip
    config = opts["config_object"]
    assert config.database == "off"
    assert config.pg_host == "from-file"
    assert config.pg_user == "envuser"
    assert config.prefix == "/from/env"
    assert [lis.ssl for lis in config.proxy_listen] == [False, True]
    assert config.admin_listen == []


def test_prefix_option_wins_over_env() -> None:
    """--prefix overrides KONGTX_PREFIX."""
    opts = Options(env={"KONGTX_PREFIX": "/from/env"})
    opts.parseOptions(["--prefix", "/from/cli"])
    assert opts["config_object"].prefix == "/from/cli"


def test_config_error_becomes_usage_error() -> None:
    """A bad setting is reported by twistd as a usage error with the message."""
    opts = Options(env={})
    with pytest.raises(usage.UsageError, match="database.*'mysql'"):
        opts.parseOptions(["--database", "mysql"])


def test_bad_env_becomes_usage_error() -> None:
    """A bad KONGTX_* variable is a usage error naming the variable."""
    opts = Options(env={"KONGTX_PG_TIMEOUT": "soon"})
    with pytest.raises(usage.UsageError, match="KONGTX_PG_TIMEOUT"):
        opts.parseOptions([])


def test_missing_config_file_is_usage_error(tmp_path: Path) -> None:
    """-c with a missing file is a usage error."""
    with pytest.raises(usage.UsageError, match="nope.conf"):
        Options(env={}).parseOptions(["-c", str(tmp_path / "nope.conf")])


def test_unknown_option_rejected() -> None:
    """Unknown flags are rejected by usage.Options."""
    with pytest.raises(usage.UsageError):
        Options(env={}).parseOptions(["--proxy-lisen", "x"])


def test_dropin_registers_service_maker() -> None:
    """twistd finds the kongtx service maker through the twisted.plugins dropin."""
    from twisted.application.service import IServiceMaker
    from twisted.plugin import getPlugins

    from twisted import plugins

    makers = {m.tapname: m for m in getPlugins(IServiceMaker, plugins)}
    assert "kongtx" in makers
    assert makers["kongtx"].options is Options


def test_make_service_calls_build_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    """makeService hands the global reactor and the loaded config to build_gateway."""
    import sys
    import types

    from twisted.application.service import MultiService
    from twisted.internet import reactor

    from kongtx.tap import makeService

    calls = []
    built = MultiService()

    def build_gateway(r: object, config: object) -> MultiService:
        calls.append((r, config))
        return built

    frozen: list[object] = []
    fake = types.ModuleType("kongtx.service")
    fake.build_gateway = build_gateway  # type: ignore[attr-defined]
    fake.freeze_gc_when_ready = frozen.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kongtx.service", fake)
    opts = Options(env={})
    opts.parseOptions(["--database", "off"])
    assert makeService(opts) is built
    assert calls == [(reactor, opts["config_object"])]
    assert frozen == [built]  # a twistd process freezes its startup heap once the node is up


def test_open_files_soft_limit_raised_to_hard(monkeypatch: pytest.MonkeyPatch) -> None:
    """At start the open-file soft limit goes up to the hard limit, and the figure is logged."""
    import resource

    from twisted.logger import globalLogPublisher

    from kongtx.rlimits import raise_open_files_limit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(256, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    events: list[dict[str, object]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        limit = raise_open_files_limit()
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == limit
        if hard != resource.RLIM_INFINITY:
            assert limit == hard
        assert limit >= low
        messages = [
            e.get("log_format") for e in events if e.get("log_namespace") == "kongtx.rlimits"
        ]
        assert messages and "open files limit" in str(messages[-1])
        assert any(e.get("target") == limit for e in events) or limit == low
    finally:
        globalLogPublisher.removeObserver(events.append)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_make_service_raises_open_files_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """twistd's makeService raises the limit before building the node."""
    import sys
    import types

    from twisted.application.service import MultiService

    from kongtx.tap import makeService

    raised: list[bool] = []
    fake_rlimits = types.ModuleType("kongtx.rlimits")
    fake_rlimits.raise_open_files_limit = lambda: raised.append(True) or 1  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kongtx.rlimits", fake_rlimits)
    fake = types.ModuleType("kongtx.service")
    fake.build_gateway = lambda r, c: MultiService()  # type: ignore[attr-defined]
    fake.freeze_gc_when_ready = lambda node: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kongtx.service", fake)
    opts = Options(env={})
    opts.parseOptions(["--database", "off"])
    makeService(opts)
    assert raised == [True]
