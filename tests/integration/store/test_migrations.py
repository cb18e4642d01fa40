"""Migrations and the ``kongtx migrations`` CLI on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import io
import os
import types
from typing import Any

import pytest
import pytest_twisted

from kongtx.cli import build_parser, run_migrations
from kongtx.schema.entity import Entity
from kongtx.schema.fields import Foreign, String
from kongtx.store import open_store
from kongtx.store.migrations import BASE, Migrator
from tests.integration.store.conftest import make_backend, pg_settings, test_registry


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


@pytest.fixture(params=["sqlite", "postgres"])
def sql_backend_name(request: pytest.FixtureRequest) -> str:
    """The SQL backend under test."""
    return str(request.param)


def _config(name: str, tmp_path: Any, request: pytest.FixtureRequest) -> Any:
    if name == "sqlite":
        return types.SimpleNamespace(database="sqlite", prefix=str(tmp_path / "prefix"))
    return pg_settings(request.getfixturevalue("pg_db"))


@pytest_twisted.ensureDeferred
async def test_later_entities_become_pending_then_up(
    sql_backend_name: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    """An entity registered after bootstrap is a pending migration until ``up`` creates it."""
    backend = await make_backend(sql_backend_name, tmp_path, request)
    reg = test_registry()
    migrator = Migrator(backend, reg)
    try:
        await migrator.reset()
        assert not (await migrator.state()).bootstrapped
        ran = await migrator.bootstrap()
        assert ran[0] == BASE and "table:acls" in ran
        assert await migrator.bootstrap() == []
        reg.register(
            Entity(
                "hmacauth_credentials",
                [
                    ("consumer", Foreign("consumers", on_delete="cascade", required=True)),
                    ("username", String(required=True, unique=True)),
                ],
            )
        )
        state = await migrator.state()
        assert state.pending == ["table:hmacauth_credentials"]
        assert await migrator.up() == ["table:hmacauth_credentials"]
        assert (await migrator.state()).pending == []
        dropped = await migrator.reset()
        assert "hmacauth_credentials" in dropped and "schema_meta" in dropped
    finally:
        await backend.close()


@pytest_twisted.ensureDeferred
async def test_cli_bootstrap_list_up_reset(
    sql_backend_name: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    """The CLI actions print Kong-like reports and exit statuses."""
    config = _config(sql_backend_name, tmp_path, request)
    reg = test_registry()

    async def run(*argv: str, confirm: Any = None) -> tuple[int, str]:
        args = build_parser().parse_args(["migrations", *argv])
        out = io.StringIO()
        status = await run_migrations(_reactor(), args, config, out, registry=reg, confirm=confirm)
        return status, out.getvalue()

    await run("reset", "-y")
    status, text = await run("list")
    assert status == 3 and "needs bootstrapping" in text
    status, text = await run("up")
    assert status == 1 and "kongtx migrations bootstrap" in text
    status, text = await run("bootstrap")
    assert (
        status == 0
        and "migrating table:services... ok" in text
        and "Database is up-to-date" in text
    )
    status, text = await run("bootstrap")
    assert text == "Database already bootstrapped\n"
    status, text = await run("list")
    assert status == 0 and "  table:plugins\n" in text and "up to date" in text
    status, text = await run("up")
    assert text == "Database is already up-to-date\n"
    status, text = await run("reset", confirm=lambda prompt: False)
    assert status == 1 and (await run("list"))[0] == 0
    status, text = await run("reset", "-y")
    assert status == 0 and (await run("list"))[0] == 3


def test_cli_parser_rejects_unknown_action() -> None:
    """Only bootstrap|up|reset|list are accepted."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["migrations", "finish"])
    args = build_parser().parse_args(["migrations", "reset", "-c", "k.conf", "-y"])
    assert isinstance(args, argparse.Namespace) and args.conf == "k.conf" and args.yes


@pytest_twisted.ensureDeferred
async def test_sqlite_store_is_zero_setup(tmp_path: Any) -> None:
    """open_store creates <prefix>/kongtx.db on first start and keeps data across restarts."""
    config = types.SimpleNamespace(database="sqlite", prefix=str(tmp_path / "p"))
    dao = await open_store(config, _reactor(), registry=test_registry())
    try:
        row = await dao.insert("consumers", {"username": "bob"})
    finally:
        await dao.close()
    assert os.path.exists(tmp_path / "p" / "kongtx.db")
    dao = await open_store(config, _reactor(), registry=test_registry())
    try:
        assert (await dao.select_by_key("consumers", "bob"))["id"] == row["id"]
    finally:
        await dao.close()
