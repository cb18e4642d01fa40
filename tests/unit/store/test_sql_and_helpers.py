"""Pure parts of the store: DDL generation, row codecs, offsets, Lua-style keys, events."""

from __future__ import annotations

import pytest

from kongtx.errors import InvalidOffset
from kongtx.schema.registry import new_registry
from kongtx.store.dao import decode_offset, encode_offset, lua_literal
from kongtx.store.events import ChangeEvent, ChangeHub
from kongtx.store.pgpool import connect_kwargs
from kongtx.store.sql import POSTGRES, SQLITE, SqlSchema


def test_ddl_has_fk_columns_uniques_and_cache_key() -> None:
    """routes get service_id REFERENCES services; plugins a UNIQUE cache_key; names UNIQUE."""
    reg = new_registry()
    routes = SqlSchema(POSTGRES).table(reg.get("routes")).create_sql()
    assert '"service_id" TEXT REFERENCES "services" ("id")' in routes[0]
    assert '"name" TEXT UNIQUE' in routes[0] and '"id" TEXT PRIMARY KEY' in routes[0]
    assert any("routes_service_id_idx" in s for s in routes[1:])
    plugins = SqlSchema(SQLITE).table(reg.get("plugins")).create_sql()[0]
    assert '"cache_key" TEXT UNIQUE' in plugins and '"config" TEXT' in plugins
    assert '"enabled" INTEGER' in plugins
    certs = SqlSchema(SQLITE).table(reg.get("certificates")).create_sql()[0]
    assert '"snis"' not in certs  # transient: stored in the snis table


def test_row_codec_roundtrip_per_dialect() -> None:
    """A row survives encode/decode: foreign as {"id"}, JSON arrays/records, booleans."""
    reg = new_registry()
    for dialect in (SQLITE, POSTGRES):
        t = SqlSchema(dialect).table(reg.get("routes"))
        row = {c.key: None for c in t.columns}
        row.update(
            id="r1",
            paths=["/a"],
            service={"id": "s1"},
            strip_path=True,
            regex_priority=3,
            headers={"x": ["1"]},
        )
        values = t.values(row)
        assert values[[c.key for c in t.columns].index("service")] == "s1"
        assert t.decode_row(values) == row


def test_placeholders_differ_only_by_dialect() -> None:
    """The same query uses ? on SQLite and %s on PostgreSQL."""
    reg = new_registry()
    lite = SqlSchema(SQLITE).table(reg.get("services")).delete_sql
    pg = SqlSchema(POSTGRES).table(reg.get("services")).delete_sql
    assert lite.replace("?", "%s") == pg


def test_offset_roundtrip_and_errors() -> None:
    """Offsets are base64 JSON of the last id; garbage is rejected with Kong's messages."""
    assert decode_offset(encode_offset("abc")) == "abc"
    with pytest.raises(InvalidOffset, match="bad base64 encoding"):
        decode_offset("%%%")
    with pytest.raises(InvalidOffset, match="bad json encoding"):
        decode_offset("bm90IGpzb24=")


def test_lua_literal_matches_kong_messages() -> None:
    """Keys sorted, strings double-quoted, null for None, nested tables."""
    key = {"service": {"id": "u"}, "name": "basic-auth", "route": None, "consumer": None}
    assert lua_literal(key) == '{consumer=null,name="basic-auth",route=null,service={id="u"}}'
    assert lua_literal(True) == "true" and lua_literal(5.0) == "5"


def test_change_hub_isolates_failing_listeners() -> None:
    """A raising listener does not stop the others."""
    hub = ChangeHub()
    seen: list[ChangeEvent] = []

    def bad(event: ChangeEvent) -> None:
        raise RuntimeError("boom")

    hub.add(bad)
    hub.add(seen.append)
    ev = ChangeEvent("services", "create", "1")
    hub.fire(ev)
    assert seen == [ev]


def test_connect_kwargs_from_settings() -> None:
    """pg_* settings map to psycopg2 keywords; pg_timeout (ms) bounds connecting."""

    class S:
        pg_host, pg_port, pg_user, pg_password, pg_database = "h", 6543, "u", "pw", "d"
        pg_ssl, pg_ssl_verify, pg_timeout = True, False, 2500
        lua_ssl_trusted_certificate, prefix = ["/etc/ca.pem"], "/tmp"

    kw = connect_kwargs(S())
    assert kw["host"] == "h" and kw["port"] == 6543 and kw["dbname"] == "d"
    assert kw["password"] == "pw" and kw["sslmode"] == "require" and kw["connect_timeout"] == 3
    S.pg_ssl_verify = True
    kw = connect_kwargs(S())
    assert kw["sslmode"] == "verify-ca" and kw["sslrootcert"] == "/etc/ca.pem"
    S.lua_ssl_trusted_certificate = ["system"]
    assert connect_kwargs(S())["sslmode"] == "verify-full"
    S.pg_ssl = False
    assert connect_kwargs(S())["sslmode"] == "disable" and "sslrootcert" not in connect_kwargs(S())
