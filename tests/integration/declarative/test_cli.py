"""Every ``kongtx`` subcommand run as a subprocess, the way a user types it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

import pytest
import yaml

from tests.integration.declarative.conftest import sample_path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def kongtx(*args: str, cwd: Any = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
    )
    for name in list(env):
        if name.startswith(("KONG_", "KONGTX_")):
            del env[name]
    return subprocess.run(
        [sys.executable, "-c", "from kongtx.cli import main; main()", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write_conf(path: Any, settings: dict[str, str]) -> str:
    path.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_help_lists_and_describes_every_command() -> None:
    done = kongtx("--help")
    assert done.returncode == 0
    for command in (
        "migrations",
        "config",
        "start",
        "stop",
        "restart",
        "reload",
        "quit",
        "health",
        "check",
        "version",
    ):
        assert command in done.stdout
    config_help = kongtx("config", "--help").stdout
    for action in ("init", "parse", "db_import", "db_export"):
        assert action in config_help
    start_help = kongtx("start", "--help").stdout
    assert "--conf" in start_help and "--prefix" in start_help


def test_version() -> None:
    from kongtx import __version__

    done = kongtx("version")
    assert (done.returncode, done.stdout.strip()) == (0, __version__)


def test_check(tmp_path: Any) -> None:
    good = write_conf(tmp_path / "good.conf", {"prefix": str(tmp_path / "p")})
    done = kongtx("check", good)
    assert (done.returncode, done.stdout.strip()) == (0, f"configuration at {good} is valid")
    bad = write_conf(tmp_path / "bad.conf", {"database": "mongodb"})
    done = kongtx("check", bad)
    assert done.returncode == 1 and done.stderr.startswith("Error: ") and "database" in done.stderr
    unknown = write_conf(tmp_path / "unknown.conf", {"no_such_setting": "1"})
    assert kongtx("check", unknown).returncode == 1


def test_config_init_then_parse(tmp_path: Any) -> None:
    done = kongtx("config", "init", cwd=tmp_path)
    assert done.returncode == 0
    assert (tmp_path / "kong.yml").read_text().startswith("# ---")
    done = kongtx("config", "parse", "kong.yml", cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, "parse successful")
    again = kongtx("config", "init", cwd=tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr


BROKEN = {
    "broken.yml": (
        '_format_version: "3.0"\nservices: [\n',
        ["failed parsing declarative configuration"],
    ),
    "unknown.yml": (
        '_format_version: "3.0"\nservices:\n- {name: s, host: h, colour: red}\n',
        ["in service 's': colour: unknown field"],
    ),
    "dangling.yml": (
        '_format_version: "3.0"\nroutes:\n- {name: r, paths: [/r], service: missing}\n',
        ["invalid reference 'service: missing' (no such entry in 'services')"],
    ),
    "duplicate.yml": (
        '_format_version: "3.0"\nconsumers:\n- {username: a}\n- {username: a}\n',
        ["uniqueness violation: 'consumers' entity with username set to 'a' already declared"],
    ),
    "nested.yml": (
        '_format_version: "3.0"\nservices:\n- name: s\n  host: h\n  routes:\n  - {name: r, paths: [x]}\n',
        ["in route 'r': paths.1: should start with: / (fixed path) or ~/ (regex path)"],
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_parse_errors_and_nothing_imported(tmp_path: Any, name: str) -> None:
    text, expected = BROKEN[name]
    (tmp_path / name).write_text(text)
    conf = write_conf(tmp_path / "k.conf", {"prefix": str(tmp_path / "p")})
    done = kongtx("config", "parse", name, "-c", conf, cwd=tmp_path)
    assert done.returncode == 1, done
    assert done.stderr.startswith("Error: Failed parsing:")
    for line in expected:
        assert line in done.stderr
    done = kongtx("config", "db_import", name, "-c", conf, cwd=tmp_path)
    assert done.returncode == 1
    assert not os.path.exists(tmp_path / "p" / "kongtx.db")  # not even opened


def test_import_export_round_trip(tmp_path: Any, database: dict[str, str]) -> None:
    conf = write_conf(tmp_path / "k.conf", database)
    if database["database"] == "postgres":
        assert kongtx("migrations", "bootstrap", "-c", conf).returncode == 0
    done = kongtx("config", "db_import", sample_path("kong-3.0.yml"), "-c", conf)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "parse successful, beginning import"
    assert done.stdout.splitlines()[1].startswith("import successful")
    assert kongtx("config", "db_export", str(tmp_path / "one.yml"), "-c", conf).returncode == 0
    exported = yaml.safe_load((tmp_path / "one.yml").read_text())
    assert exported["_format_version"] == "3.0" and exported["_transform"] is False
    assert len(exported["plugins"]) == 25
    assert kongtx("config", "db_export", str(tmp_path / "one.yml"), "-c", conf).returncode == 1
    # into an empty database, then export again: identical
    other = dict(database, prefix=str(tmp_path / "other"))
    cleanup = None
    if database["database"] == "postgres":
        from tests.pg import create_database, drop_database

        db = create_database("kongtx_decl_cli")
        other.update({k: str(v) for k, v in db.settings.items() if v is not None})
        cleanup = lambda: drop_database(db)  # noqa: E731
    try:
        conf2 = write_conf(tmp_path / "k2.conf", other)
        if database["database"] == "postgres":
            assert kongtx("migrations", "bootstrap", "-c", conf2).returncode == 0
        assert kongtx("config", "db_import", str(tmp_path / "one.yml"), "-c", conf2).returncode == 0
        done = kongtx("config", "db_export", "-", "-c", conf2)
        assert done.returncode == 0
        assert done.stdout == (tmp_path / "one.yml").read_text()
    finally:
        if cleanup is not None:
            cleanup()


def test_import_refused_without_a_database(tmp_path: Any) -> None:
    conf = write_conf(tmp_path / "k.conf", {"database": "off", "prefix": str(tmp_path / "p")})
    done = kongtx("config", "db_import", sample_path("kong-3.0.yml"), "-c", conf)
    assert done.returncode == 1 and "database=off" in done.stderr


def _dbless_conf(tmp_path: Any, declarative: str, admin: int) -> tuple[Any, str]:
    """A DB-less node's configuration file, loading ``kong.yml`` (``declarative``) in
    ``tmp_path``; returns the declarative file's path and the configuration's."""
    decl = tmp_path / "kong.yml"
    decl.write_text(declarative)
    settings = {
        "prefix": str(tmp_path / "p"),
        "database": "off",
        "declarative_config": str(decl),
        "proxy_listen": f"127.0.0.1:{free_port()}",
        "admin_listen": f"127.0.0.1:{admin}",
    }
    return decl, write_conf(tmp_path / "k.conf", settings)


def test_node_lifecycle(tmp_path: Any) -> None:
    """start, health, reload (the declarative file re-read), restart, quit, stop, health."""
    admin = free_port()
    first = '_format_version: "3.0"\nservices:\n- {name: first, host: first.test}\n'
    decl, conf = _dbless_conf(tmp_path, first, admin)
    prefix = ["-c", conf]
    try:
        done = kongtx("start", *prefix)
        assert done.returncode == 0, done.stderr
        assert kongtx("start", *prefix).returncode == 1  # already running
        done = kongtx("health", *prefix)
        assert done.returncode == 0 and "healthy" in done.stdout
        assert _service_names(admin) == ["first"]
        decl.write_text('_format_version: "3.0"\nservices:\n- {name: second, host: second.test}\n')
        assert kongtx("reload", *prefix).returncode == 0
        _wait_for(lambda: _service_names(admin) == ["second"])
        pid = (tmp_path / "p" / "pids" / "kongtx.pid").read_text()
        done = kongtx("restart", *prefix)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "p" / "pids" / "kongtx.pid").read_text() != pid
        assert _service_names(admin) == ["second"]
        done = kongtx("quit", *prefix)
        assert done.returncode == 0 and "stopped" in done.stdout
        assert kongtx("health", *prefix).returncode == 1
        assert kongtx("start", *prefix).returncode == 0
        assert kongtx("stop", *prefix).returncode == 0
        done = kongtx("health", *prefix)
        assert done.returncode == 1 and "not running" in done.stderr
        assert kongtx("stop", *prefix).returncode == 1
    finally:
        kongtx("stop", *prefix)


def test_start_fails_on_an_invalid_declarative_file(tmp_path: Any) -> None:
    invalid = '_format_version: "3.0"\nservices:\n- {name: s, port: -1}\n'
    _decl, conf = _dbless_conf(tmp_path, invalid, free_port())
    try:
        done = kongtx("start", "-c", conf, "--timeout", "20")
        assert done.returncode == 1
        assert "declarative config is invalid" in done.stderr
    finally:
        kongtx("stop", "-c", conf)


def _service_names(port: int) -> list[str]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/services", timeout=5) as response:
        return [s["name"] for s in json.loads(response.read())["data"]]


def _wait_for(check: Any, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)
