"""db_import / db_export on real SQLite and PostgreSQL: round trips, idempotence, all or nothing."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor

from kongtx.declarative import dump_yaml, export_document, parse_text
from kongtx.declarative.load import import_parsed
from kongtx.errors import KongtxError
from kongtx.store import open_store
from tests.integration.declarative.conftest import SAMPLE_FILES, load_settings, sample_path


@pytest.fixture(scope="module", autouse=True)
def _plugins() -> Any:
    from kongtx.plugins.base import load_plugins
    from kongtx.schema import registry

    load_plugins(["bundled"])
    yield
    registry.set_enabled_plugins(None)  # as before: every registered plugin usable


async def _open(settings: dict[str, str]) -> Any:
    return await open_store(load_settings(settings), reactor, auto_migrate=True)


async def _export(dao: Any) -> str:
    return dump_yaml(export_document(await dao.load_all(), dao.registry))


def _stable(exported: str) -> Any:
    import yaml

    document = yaml.safe_load(exported)
    for rows in document.values():
        for row in rows if isinstance(rows, list) else ():
            row.pop("updated_at", None)
            row.pop("password", None)
    return document


def _parse(text: str, dao: Any) -> Any:
    return parse_text(text, dao.registry, reactor.seconds())


@pytest.mark.parametrize("name", SAMPLE_FILES)
@pytest_twisted.ensureDeferred
async def test_round_trip(database: dict[str, str], tmp_path: Any, name: str) -> None:
    with open(sample_path(name), encoding="utf-8") as fh:
        text = fh.read()
    dao = await _open(database)
    try:
        counts = await import_parsed(dao, _parse(text, dao))
        assert counts["services"] == 2 and counts["plugins"] == 25
        first = await _export(dao)
        again = await import_parsed(dao, _parse(text, dao))
        assert again == counts
        # re-applying the file changes nothing but the write time (and bcrypt's salt)
        assert _stable(await _export(dao)) == _stable(first)
        row = await dao.select_by_key("basicauth_credentials", "alice")
        assert row["password"] != "s3cret"  # _transform: hashed on import
    finally:
        await dao.close()
    other = dict(database, prefix=str(tmp_path / "other"))
    if database["database"] == "postgres":  # a second, empty database on the same server
        from tests.pg import create_database, drop_database

        db = create_database("kongtx_decl_rt")
        other.update({k: str(v) for k, v in db.settings.items() if v is not None})
    try:
        dao = await _open(other)
        try:
            await import_parsed(dao, _parse(first, dao))
            assert await _export(dao) == first
        finally:
            await dao.close()
    finally:
        if database["database"] == "postgres":
            drop_database(db)


@pytest_twisted.ensureDeferred
async def test_failed_import_leaves_the_database_as_it_was(database: dict[str, str]) -> None:
    dao = await _open(database)
    try:
        await dao.insert("services", {"name": "kept", "host": "kept.test"})
        await dao.insert("consumers", {"username": "clash"})
        before = await _export(dao)
        services = "\n".join(f"- {{name: s{i}, host: h{i}.test}}" for i in range(3000))
        text = (
            '_format_version: "3.0"\nservices:\n' + services + "\nconsumers:\n"
            "- {username: fine}\n- {id: 6e1c7c4e-0000-4000-8000-000000000001, username: clash}\n"
        )
        with pytest.raises(KongtxError):
            await import_parsed(dao, _parse(text, dao))
        assert await _export(dao) == before
        assert (await dao.page("services", 10)).rows[0]["name"] == "kept"
    finally:
        await dao.close()


@pytest_twisted.ensureDeferred
async def test_import_keeps_rows_not_in_the_file(database: dict[str, str]) -> None:
    dao = await _open(database)
    try:
        kept = await dao.insert("services", {"name": "kept", "host": "kept.test"})
        await import_parsed(
            dao, _parse('_format_version: "3.0"\nservices: [{name: new, host: n}]\n', dao)
        )
        names = sorted(r["name"] for r in (await dao.page("services", 10)).rows)
        assert names == ["kept", "new"]
        assert (await dao.select("services", kept["id"]))["host"] == "kept.test"
    finally:
        await dao.close()


@pytest_twisted.ensureDeferred
async def test_import_updates_rows_by_id_and_keeps_created_at(database: dict[str, str]) -> None:
    dao = await _open(database)
    try:
        await import_parsed(
            dao,
            _parse('_format_version: "3.0"\nservices: [{name: s, host: one, tags: [a]}]\n', dao),
        )
        first = await dao.select_by_key("services", "s")
        await import_parsed(
            dao,
            _parse('_format_version: "3.0"\nservices: [{name: s, host: two, tags: [b]}]\n', dao),
        )
        second = await dao.select_by_key("services", "s")
        assert second["id"] == first["id"] and second["host"] == "two"
        assert second["created_at"] == first["created_at"]
        assert [r["name"] for r in (await dao.page("services", 10, tags=["b"])).rows] == ["s"]
        assert (await dao.page("services", 10, tags=["a"])).rows == []
    finally:
        await dao.close()
