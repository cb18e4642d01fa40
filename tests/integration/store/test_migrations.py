"""Migrations and the ``kongtx migrations`` CLI on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import io
import os
from typing import Any

import pytest
import pytest_twisted

from kongtx.cli import build_parser, run_migrations
from kongtx.config import Config, load_config
from kongtx.errors import UniqueViolation
from kongtx.schema.entity import Entity
from kongtx.schema.fields import Boolean, Foreign, Integer, Record, String
from kongtx.store import MigrationsNeeded, open_store
from kongtx.store.dao import DAO
from kongtx.store.migrations import BASE, Migration, Migrator
from tests.integration.store.conftest import make_backend, pg_settings, test_registry


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


@pytest.fixture(params=["sqlite", "postgres"])
def sql_backend_name(request: pytest.FixtureRequest) -> str:
    """The SQL backend under test."""
    return str(request.param)


def _sqlite_config(prefix: str) -> Config:
    return load_config(
        None, {}, {"database": "sqlite", "prefix": prefix}, search_default_paths=False
    )


def _config(name: str, tmp_path: Any, request: pytest.FixtureRequest) -> Any:
    if name == "sqlite":
        return _sqlite_config(str(tmp_path / "prefix"))
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
    config = _sqlite_config(str(tmp_path / "p"))
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


def _widgets_v1() -> Entity:
    return Entity("widgets", [("name", String(required=True, unique=True))], endpoint_key="name")


def _widgets_v2() -> Entity:
    """Version 2 of widgets: four more fields (defaulted, unique, record, foreign)."""
    return Entity(
        "widgets",
        [
            ("name", String(required=True, unique=True)),
            ("size", Integer(default=3)),
            ("serial", String(unique=True)),
            (
                "limits",
                Record([("hard", Boolean(default=True)), ("minute", Integer())], required=True),
            ),
            ("owner", Foreign("consumers", on_delete="cascade")),
        ],
        endpoint_key="name",
    )


def _counters(dialect: Any) -> list[str]:
    return [
        "CREATE TABLE IF NOT EXISTS test_counters (identifier TEXT PRIMARY KEY,"
        f" value {dialect.types['int']})"
    ]


@pytest_twisted.ensureDeferred
async def test_up_migrates_an_older_schema_state(
    sql_backend_name: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    """A database bootstrapped by an older version gets new columns, tables and named migrations.

    ``list`` shows them as pending (exit 5), the node refuses to start on them
    (postgres) and ``up`` runs them; old rows get the new fields' defaults and
    new unique fields are enforced.
    """
    config = _config(sql_backend_name, tmp_path, request)
    old = test_registry()
    old.register(_widgets_v1())
    backend = await make_backend(sql_backend_name, tmp_path, request)
    if sql_backend_name == "sqlite":  # the node and the CLI open the same file
        config = _sqlite_config(os.path.dirname(backend.path))
        assert config.sqlite_path == backend.path
    migrator = Migrator(backend, old, migrations=[])
    await migrator.reset()
    await migrator.bootstrap()
    dao = DAO(backend, _reactor(), registry=old)
    w1 = await dao.insert("widgets", {"name": "w1"})
    consumer = await dao.insert("consumers", {"username": "owner"})

    new = test_registry()
    new.register(_widgets_v2())
    new.register(
        Entity(
            "hmacauth_credentials",
            [
                ("consumer", Foreign("consumers", on_delete="cascade", required=True)),
                ("username", String(required=True, unique=True)),
            ],
        )
    )
    named = [Migration("test-plugin:001_counters", _counters, tables=("test_counters",))]
    expected = [
        "column:widgets.size",
        "column:widgets.serial",
        "column:widgets.limits",
        "column:widgets.owner_id",
        "table:hmacauth_credentials",
        "test-plugin:001_counters",
    ]
    try:
        migrator = Migrator(backend, new, migrations=named)
        state = await migrator.state()
        assert state.bootstrapped and state.pending == expected

        args = build_parser().parse_args(["migrations", "list"])
        out = io.StringIO()
        status = await run_migrations(_reactor(), args, config, out, registry=new, migrations=named)
        assert status == 5, out.getvalue()
        assert "Pending migrations:\n  column:widgets.size\n" in out.getvalue()
        if sql_backend_name == "postgres":
            with pytest.raises(MigrationsNeeded, match="kongtx migrations up"):
                await open_store(config, _reactor(), registry=new, migrations=named)

        args = build_parser().parse_args(["migrations", "up"])
        out = io.StringIO()
        status = await run_migrations(_reactor(), args, config, out, registry=new, migrations=named)
        assert status == 0 and "6 migrations processed" in out.getvalue()
        assert (await migrator.state()).pending == []
        assert (await migrator.state()).executed[-6:] == expected

        dao = DAO(backend, _reactor(), registry=new)
        row = await dao.select("widgets", w1["id"])
        assert row["size"] == 3 and row["serial"] is None and row["owner"] is None
        assert row["limits"] == {"hard": True, "minute": None}
        w2 = await dao.insert(
            "widgets", {"name": "w2", "serial": "s-1", "owner": {"id": consumer["id"]}}
        )
        assert (await dao.select("widgets", w2["id"]))["owner"] == {"id": consumer["id"]}
        with pytest.raises(UniqueViolation):
            await dao.insert("widgets", {"name": "w3", "serial": "s-1"})
        await dao.insert(
            "hmacauth_credentials", {"consumer": {"id": consumer["id"]}, "username": "u"}
        )
        await backend.transaction(
            lambda tx: tx.execute("INSERT INTO test_counters VALUES ('a', 1)", None), 0.0
        )
        dropped = await migrator.reset()
        assert "test_counters" in dropped and "widgets" in dropped
    finally:
        await backend.close()
