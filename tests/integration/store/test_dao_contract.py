"""DAO contract: the same behaviour on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import pytest_twisted

from kongtx.errors import (
    ForeignKeyViolation,
    InvalidOffset,
    InvalidOptions,
    InvalidSize,
    NotFound,
    PrimaryKeyViolation,
    SchemaViolation,
    UniqueViolation,
)
from kongtx.store.events import ChangeEvent
from tests.integration.store.conftest import START, StoreEnv, make_cert

UUID0 = "00000000-0000-4000-8000-000000000000"


async def raises(exc_type: type[BaseException], coro: Any) -> Any:
    """Await ``coro`` and return the exception of type ``exc_type`` it raised."""
    with pytest.raises(exc_type) as info:
        await coro
    return info.value


@pytest_twisted.ensureDeferred
async def test_insert_fills_defaults_and_reads_back(store: StoreEnv) -> None:
    """An inserted service comes back complete by id and by name."""
    dao = store.dao
    row = await dao.insert("services", {"name": "s1", "url": "https://example.com/api"})
    assert row["protocol"] == "https" and row["port"] == 443 and row["path"] == "/api"
    assert row["retries"] == 5 and row["enabled"] is True and row["tags"] is None
    assert row["created_at"] == int(START) and row["client_certificate"] is None
    assert await dao.select("services", row["id"]) == row
    assert await dao.select_by_key("services", "s1") == row
    assert await dao.select_by_key("services", row["id"]) == row
    assert await dao.select_by_field("services", "name", "nope") is None
    assert await dao.select("services", UUID0) is None


@pytest_twisted.ensureDeferred
async def test_unique_violation(store: StoreEnv) -> None:
    """A duplicate name fails with Kong's message and writes nothing."""
    await store.dao.insert("services", {"name": "s1", "host": "a"})
    err = await raises(UniqueViolation, store.dao.insert("services", {"name": "s1", "host": "b"}))
    assert err.message == "UNIQUE violation detected on '{name=\"s1\"}'"
    assert err.fields == {"name": "s1"}
    page = await store.dao.page("services")
    assert [r["host"] for r in page.rows] == ["a"]


@pytest_twisted.ensureDeferred
async def test_foreign_key_violation_on_insert(store: StoreEnv) -> None:
    """A route pointing at a missing service is refused with code 4."""
    err = await raises(
        ForeignKeyViolation, store.dao.insert("routes", {"paths": ["/"], "service": {"id": UUID0}})
    )
    assert (
        err.message
        == f"the foreign key '{{id=\"{UUID0}\"}}' does not reference an existing 'services' entity."
    )
    assert err.fields == {"service": {"id": UUID0}}
    assert (await store.dao.page("routes")).rows == []


@pytest_twisted.ensureDeferred
async def test_primary_key_and_schema_violation(store: StoreEnv) -> None:
    """Reusing an id fails with code 3; bad input with code 2."""
    s = await store.dao.insert("services", {"host": "a"})
    err = await raises(
        PrimaryKeyViolation, store.dao.insert("services", {"id": s["id"], "host": "b"})
    )
    assert err.fields == {"id": s["id"]}
    err = await raises(SchemaViolation, store.dao.insert("services", {"port": "x"}))
    assert err.fields == {"host": "required field missing", "port": "expected an integer"}


@pytest_twisted.ensureDeferred
async def test_delete_restrict_and_cascade(store: StoreEnv) -> None:
    """Routes restrict deleting their service; plugins cascade."""
    dao = store.dao
    s = await dao.insert("services", {"name": "s1", "host": "a"})
    r = await dao.insert("routes", {"paths": ["/"], "service": {"id": s["id"]}})
    p = await dao.insert("plugins", {"name": "key-auth", "service": {"id": s["id"]}})
    err = await raises(ForeignKeyViolation, dao.delete("services", s["id"]))
    assert (
        err.code == 4
        and err.message == "an existing 'routes' entity references this 'services' entity"
    )
    assert err.fields == {"@referenced_by": "routes"}
    assert await dao.select("plugins", p["id"]) is not None
    await dao.delete("routes", r["id"])
    await dao.delete("services", s["id"])
    assert await dao.select("services", s["id"]) is None
    assert await dao.select("plugins", p["id"]) is None
    await dao.delete("services", s["id"])  # absent: no error


@pytest_twisted.ensureDeferred
async def test_failed_cascade_rolls_back(store: StoreEnv) -> None:
    """A delete that cascades to plugins then hits a restricting acl changes nothing."""
    dao = store.dao
    c = await dao.insert("consumers", {"username": "bob"})
    p = await dao.insert("plugins", {"name": "key-auth", "consumer": {"id": c["id"]}})
    k = await dao.insert("keyauth_credentials", {"consumer": {"id": c["id"]}, "key": "k1"})
    await dao.insert("acls", {"consumer": {"id": c["id"]}, "group": "g"})
    err = await raises(ForeignKeyViolation, dao.delete("consumers", c["id"]))
    assert err.fields == {"@referenced_by": "acls"}
    assert await dao.select("plugins", p["id"]) is not None
    assert await dao.select("keyauth_credentials", k["id"]) is not None
    assert await dao.select("consumers", c["id"]) is not None


@pytest_twisted.ensureDeferred
async def test_update_merges_and_checks(store: StoreEnv) -> None:
    """PATCH merges records, refreshes updated_at, keeps uniqueness, 404s when absent."""
    dao = store.dao
    c = await dao.insert("consumers", {"username": "a"})
    await dao.insert("consumers", {"username": "b"})
    p = await dao.insert("plugins", {"name": "key-auth", "config": {"limit": 7}})
    store.clock.advance(10)
    p2 = await dao.update("plugins", p["id"], {"config": {"key_names": "k"}})
    assert p2["config"] == {"key_names": "k", "limit": 7}
    assert p2["updated_at"] == int(START) + 10 and p2["created_at"] == int(START)
    err = await raises(UniqueViolation, dao.update("consumers", c["id"], {"username": "b"}))
    assert err.fields == {"username": "b"}
    assert (await dao.select("consumers", c["id"]))["username"] == "a"
    err = await raises(NotFound, dao.update("consumers", UUID0, {"username": "x"}))
    assert err.fields == {"id": UUID0}


@pytest_twisted.ensureDeferred
async def test_upsert_creates_then_replaces(store: StoreEnv) -> None:
    """PUT creates with the given id, then replaces resetting omitted fields to defaults."""
    dao = store.dao
    s = await dao.upsert("services", UUID0, {"name": "s", "host": "a", "retries": 9})
    assert s["id"] == UUID0 and s["retries"] == 9
    store.clock.advance(5)
    s2 = await dao.upsert("services", UUID0, {"host": "b"})
    assert s2["retries"] == 5 and s2["name"] is None and s2["host"] == "b"
    assert s2["created_at"] == int(START) and s2["updated_at"] == int(START) + 5
    assert await dao.select("services", UUID0) == s2


@pytest_twisted.ensureDeferred
async def test_pagination(store: StoreEnv) -> None:
    """Pages follow id order with opaque tokens; bad size/offset are refused."""
    dao = store.dao
    ids = sorted([(await dao.insert("consumers", {"username": f"u{i}"}))["id"] for i in range(7)])
    got, offset, pages = [], None, 0
    while True:
        page = await dao.page("consumers", size=3, offset=offset)
        got += [r["id"] for r in page.rows]
        pages += 1
        offset = page.offset
        if offset is None:
            break
        assert json.loads(base64.b64decode(offset)) == [got[-1]]
    assert got == ids and pages == 3
    assert (await dao.page("consumers", size=7)).offset is None
    err = await raises(InvalidSize, dao.page("consumers", size=0))
    assert err.message == "size must be an integer between 1 and 1000"
    await raises(InvalidSize, dao.page("consumers", size=1001))
    err = await raises(InvalidOffset, dao.page("consumers", offset="!!!"))
    assert err.message == "'!!!' is not a valid offset: bad base64 encoding"
    bad_json = base64.b64encode(b"{nope").decode()
    err = await raises(InvalidOffset, dao.page("consumers", offset=bad_json))
    assert err.message == f"'{bad_json}' is not a valid offset: bad json encoding"


@pytest_twisted.ensureDeferred
async def test_filters_tags_and_foreign(store: StoreEnv) -> None:
    """Tags (and/or), equality filters and foreign filters narrow a page."""
    dao = store.dao
    a = await dao.insert("services", {"name": "a", "host": "h", "tags": ["t1", "t2"]})
    b = await dao.insert("services", {"name": "b", "host": "h", "tags": ["t2"]})
    await dao.insert("services", {"name": "c", "host": "h", "tags": ["t3"]})

    async def names(**kw: Any) -> list[str]:
        return sorted(r["name"] for r in (await dao.page("services", **kw)).rows)

    assert await names(tags=["t2"]) == ["a", "b"]
    assert await names(tags=["t1", "t2"]) == ["a"]
    assert await names(tags=["t1", "t3"], tags_cond="or") == ["a", "c"]
    await dao.update("services", b["id"], {"tags": ["t1", "t2"]})
    assert await names(tags=["t1", "t2"]) == ["a", "b"]
    c1 = await dao.insert("consumers", {"username": "x", "custom_id": "cid"})
    await dao.insert("consumers", {"username": "y"})
    rows = (await dao.page("consumers", filters={"custom_id": "cid"})).rows
    assert [r["id"] for r in rows] == [c1["id"]]
    r1 = await dao.insert("routes", {"paths": ["/a"], "service": {"id": a["id"]}})
    await dao.insert("routes", {"paths": ["/b"], "service": {"id": b["id"]}})
    rows = (await dao.page("routes", foreign=("service", a["id"]))).rows
    assert [r["id"] for r in rows] == [r1["id"]]


@pytest_twisted.ensureDeferred
async def test_ttl_rows_expire(store: StoreEnv) -> None:
    """A row written with ttl shows the remaining ttl and disappears after it."""
    dao = store.dao
    c = await dao.insert("consumers", {"username": "bob"})
    k = await dao.insert(
        "keyauth_credentials", {"consumer": {"id": c["id"]}, "key": "k1", "ttl": 10}
    )
    assert k["ttl"] == 10
    store.clock.advance(4)
    assert (await dao.select_by_key("keyauth_credentials", "k1"))["ttl"] == 6
    store.clock.advance(7)
    assert await dao.select("keyauth_credentials", k["id"]) is None
    assert (await dao.page("keyauth_credentials")).rows == []
    again = await dao.insert("keyauth_credentials", {"consumer": {"id": c["id"]}, "key": "k1"})
    assert "ttl" not in again
    err = await raises(
        InvalidOptions, dao.insert("keyauth_credentials", {"consumer": {"id": c["id"]}, "ttl": -1})
    )
    assert err.options == {"ttl": "must be an integer between 0 and 100000000"}
    await raises(InvalidOptions, dao.insert("consumers", {"username": "z", "ttl": 5}))


@pytest_twisted.ensureDeferred
async def test_certificate_snis_are_transient(store: StoreEnv) -> None:
    """Certificate snis are written as sni rows, read back sorted, replaced and deleted."""
    dao = store.dao
    cert, key = make_cert()
    c = await dao.insert("certificates", {"cert": cert, "key": key, "snis": ["b.com", "a.com"]})
    assert c["snis"] == ["a.com", "b.com"]
    sni = await dao.select_by_field("snis", "name", "a.com")
    assert sni["certificate"] == {"id": c["id"]}
    assert (await dao.select("certificates", c["id"]))["snis"] == ["a.com", "b.com"]
    assert (await dao.select_by_key("certificates", "b.com"))["id"] == c["id"]
    c2 = await dao.update("certificates", c["id"], {"snis": ["c.com", "a.com"]})
    assert c2["snis"] == ["a.com", "c.com"]
    assert await dao.select_by_field("snis", "name", "b.com") is None
    loaded = await dao.load_all()
    assert loaded["certificates"][0]["snis"] == ["a.com", "c.com"]
    assert sorted(r["name"] for r in loaded["snis"]) == ["a.com", "c.com"]
    await dao.delete("certificates", c["id"])
    assert (await dao.page("snis")).rows == []


@pytest_twisted.ensureDeferred
async def test_failing_certificate_write_leaves_nothing(store: StoreEnv) -> None:
    """Duplicate, taken or invalid snis fail the whole certificate write."""
    dao = store.dao
    cert, key = make_cert()
    err = await raises(
        SchemaViolation,
        dao.insert("certificates", {"cert": cert, "key": key, "snis": ["a.com", "a.com"]}),
    )
    assert err.fields == {"snis": "a.com is duplicated"}
    first = await dao.insert("certificates", {"cert": cert, "key": key, "snis": ["taken.com"]})
    err = await raises(
        SchemaViolation,
        dao.insert("certificates", {"cert": cert, "key": key, "snis": ["new.com", "taken.com"]}),
    )
    assert err.fields == {
        "snis": f"taken.com already associated with existing certificate '{first['id']}'"
    }
    await raises(
        SchemaViolation,
        dao.insert("certificates", {"cert": cert, "key": key, "snis": ["ok.com", "bad host!"]}),
    )
    assert [r["id"] for r in (await dao.page("certificates")).rows] == [first["id"]]
    assert [r["name"] for r in (await dao.page("snis")).rows] == ["taken.com"]


@pytest_twisted.ensureDeferred
async def test_plugin_composite_unique(store: StoreEnv) -> None:
    """Two key-auth plugins on one service violate the cache_key with Kong's Lua-style message."""
    dao = store.dao
    s = await dao.insert("services", {"host": "a"})
    await dao.insert("plugins", {"name": "key-auth", "service": {"id": s["id"]}})
    await dao.insert("plugins", {"name": "key-auth"})  # global: different scope
    err = await raises(
        UniqueViolation, dao.insert("plugins", {"name": "key-auth", "service": {"id": s["id"]}})
    )
    assert err.message == (
        'UNIQUE violation detected on \'{consumer=null,name="key-auth",route=null,'
        f'service={{id="{s["id"]}"}}}}\''
    )
    assert err.fields == {
        "consumer": None,
        "name": "key-auth",
        "route": None,
        "service": {"id": s["id"]},
    }


@pytest_twisted.ensureDeferred
async def test_change_events(store: StoreEnv) -> None:
    """Committed writes fire create/update/delete (cascades included); failed ones fire nothing."""
    dao = store.dao
    events: list[ChangeEvent] = []
    dao.add_change_listener(events.append)
    s = await dao.insert("services", {"name": "s", "host": "a"})
    p = await dao.insert("plugins", {"name": "key-auth", "service": {"id": s["id"]}})
    await dao.update("services", s["id"], {"port": 81})
    with pytest.raises(UniqueViolation):
        await dao.insert("services", {"name": "s", "host": "b"})
    await dao.delete("services", s["id"])
    assert events == [
        ChangeEvent("services", "create", s["id"]),
        ChangeEvent("plugins", "create", p["id"]),
        ChangeEvent("services", "update", s["id"]),
        ChangeEvent("plugins", "delete", p["id"]),
        ChangeEvent("services", "delete", s["id"]),
    ]


@pytest_twisted.ensureDeferred
async def test_load_all_and_ping(store: StoreEnv) -> None:
    """load_all returns every registered entity; ping succeeds."""
    await store.dao.insert("services", {"host": "a"})
    loaded = await store.dao.load_all()
    assert set(loaded) == {e.name for e in store.registry.all()}
    assert len(loaded["services"]) == 1 and loaded["routes"] == []
    await store.dao.ping()
