"""One SQL layer for both SQL backends: DDL, queries and row codecs from the schemas.

Tables: one per entity, one column per field. Foreign keys are ``<field>_id``
columns with ``REFERENCES``; arrays, sets, maps and records are JSON text;
``cache_key`` holds the composite unique key and ``ttl_expire_at`` the expiry
of ttl entities. A ``tags`` table mirrors every row's tags for tag filtering.
The dialects differ only in placeholders and a few column types.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kongtx.store.backend import CACHE_KEY, EXPIRE_AT, Row
from kongtx.store.events import ChangeEvent

Execute = Callable[[str, Any], Awaitable[list[tuple[Any, ...]]]]

#: bound parameters per statement (SQLite allows 32766, PostgreSQL 65535)
_MAX_PARAMS = 30000

# column kinds
TEXT, INT, FLOAT, BOOL, JSON, FK = "text", "int", "float", "bool", "json", "fk"
_KIND_BY_TYPE = {"string": TEXT, "integer": INT, "number": FLOAT, "boolean": BOOL, "foreign": FK}


@dataclass(frozen=True)
class Dialect:
    """The few things that differ between SQLite and PostgreSQL."""

    name: str
    param: str
    types: dict[str, str]
    serial_pk: str

    def placeholders(self, n: int) -> str:
        """Return ``n`` comma-separated placeholders."""
        return ", ".join([self.param] * n)


SQLITE = Dialect(
    "sqlite",
    "?",
    {TEXT: "TEXT", INT: "INTEGER", FLOAT: "REAL", BOOL: "INTEGER", JSON: "TEXT", FK: "TEXT"},
    "INTEGER PRIMARY KEY AUTOINCREMENT",
)
POSTGRES = Dialect(
    "postgres",
    "%s",
    {
        TEXT: "TEXT",
        INT: "BIGINT",
        FLOAT: "DOUBLE PRECISION",
        BOOL: "BOOLEAN",
        JSON: "TEXT",
        FK: "TEXT",
    },
    "BIGSERIAL PRIMARY KEY",
)


@dataclass(frozen=True)
class Column:
    """One column: the row key it stores, its SQL name and kind."""

    key: str
    name: str
    kind: str
    reference: str | None = None


def quote(name: str) -> str:
    """Quote an identifier (field names such as ``group`` are SQL keywords)."""
    return '"' + name.replace('"', '""') + '"'


class TableSql:
    """Precomputed SQL and codecs for one entity in one dialect."""

    def __init__(self, entity: Any, dialect: Dialect) -> None:
        self.entity = entity
        self.dialect = dialect
        self.table = entity.table
        self.q_table = quote(entity.table)
        transient = set(getattr(entity, "transient_fields", ()) or ())
        cols: list[Column] = []
        for name, field in entity.fields.items():
            if name in transient:
                continue
            kind = _KIND_BY_TYPE.get(field.type_name, JSON)
            if kind == FK:
                cols.append(Column(name, f"{name}_id", FK, field.reference))
            else:
                cols.append(Column(name, name, kind))
        if entity.cache_key:
            cols.append(Column(CACHE_KEY, "cache_key", TEXT))
        if entity.ttl:
            cols.append(Column(EXPIRE_AT, "ttl_expire_at", FLOAT))
        self.columns = cols
        self.by_key = {c.key: c for c in cols}
        self.has_tags = "tags" in entity.fields
        p = dialect.param
        names = ", ".join(quote(c.name) for c in cols)
        self.select_cols = f"SELECT {names} FROM {self.q_table}"
        self.live = (
            f"({quote('ttl_expire_at')} IS NULL OR {quote('ttl_expire_at')} > {p})"
            if entity.ttl
            else None
        )
        self.insert_sql = (
            f"INSERT INTO {self.q_table} ({names}) VALUES ({dialect.placeholders(len(cols))})"
        )
        sets = ", ".join(f"{quote(c.name)} = {p}" for c in cols if c.key != "id")
        self.update_sql = f"UPDATE {self.q_table} SET {sets} WHERE {quote('id')} = {p}"
        self.delete_sql = f"DELETE FROM {self.q_table} WHERE {quote('id')} = {p}"

    # -- DDL ------------------------------------------------------------------
    def column_sql(self, c: Column, *, constraints: bool = True) -> str:
        """Return the definition of column ``c`` (``constraints``: PRIMARY KEY/UNIQUE inline)."""
        ddl = f"{quote(c.name)} {self.dialect.types[c.kind]}"
        if constraints:
            if c.key == "id":
                ddl += " PRIMARY KEY"
            elif c.key in self.entity.unique_fields() or c.key == CACHE_KEY:
                ddl += " UNIQUE"
        if c.kind == FK:
            ddl += f" REFERENCES {quote(c.reference or '')} ({quote('id')})"
        return ddl

    def index_sql(self, c: Column) -> str:
        """Return the statement indexing column ``c`` (foreign keys, ``ttl_expire_at``)."""
        idx = quote(f"{self.table}_{c.name}_idx")
        return f"CREATE INDEX IF NOT EXISTS {idx} ON {self.q_table} ({quote(c.name)})"

    def create_sql(self) -> list[str]:
        """Return the statements creating this entity's table and indexes."""
        parts = ", ".join(self.column_sql(c) for c in self.columns)
        stmts = [f"CREATE TABLE IF NOT EXISTS {self.q_table} ({parts})"]
        stmts += [
            self.index_sql(c) for c in self.columns if c.kind == FK or c.key == EXPIRE_AT
        ]  # ttl_expire_at: purging expired rows on a write must not scan the table
        return stmts

    def add_column_sql(self, c: Column) -> list[str]:
        """Return the statements adding column ``c`` to an existing table.

        UNIQUE becomes a unique index (SQLite cannot add a UNIQUE column).
        """
        stmts = [f"ALTER TABLE {self.q_table} ADD COLUMN {self.column_sql(c, constraints=False)}"]
        if c.key in self.entity.unique_fields() or c.key == CACHE_KEY:
            idx = quote(f"{self.table}_{c.name}_key")
            stmts.append(
                f"CREATE UNIQUE INDEX IF NOT EXISTS {idx} ON {self.q_table} ({quote(c.name)})"
            )
        if c.kind == FK or c.key == EXPIRE_AT:
            stmts.append(self.index_sql(c))
        return stmts

    def upsert_sql(self, count: int) -> str:
        """Insert ``count`` rows; a row whose id exists replaces it (``created_at`` kept)."""
        row = "(" + self.dialect.placeholders(len(self.columns)) + ")"
        sets = ", ".join(
            f"{quote(c.name)} = excluded.{quote(c.name)}"
            for c in self.columns
            if c.key not in ("id", "created_at")
        )
        head = self.insert_sql.split(" VALUES ", 1)[0]
        return f"{head} VALUES {', '.join([row] * count)} ON CONFLICT ({quote('id')}) DO UPDATE SET {sets}"

    def drop_sql(self) -> str:
        """Return the statement dropping this table."""
        return f"DROP TABLE IF EXISTS {self.q_table}"

    # -- codecs ---------------------------------------------------------------
    def encode(self, c: Column, value: Any) -> Any:
        """Python row value -> SQL parameter."""
        if value is None:
            return None
        kind = c.kind
        if kind == FK:
            return value.get("id") if isinstance(value, dict) else value
        if kind == JSON:
            return json.dumps(value, separators=(",", ":"), sort_keys=False)
        if kind == BOOL and self.dialect is SQLITE:
            return 1 if value else 0
        return value

    def decode_row(self, values: Iterable[Any]) -> Row:
        """SQL result tuple -> Kong JSON row (hidden keys kept)."""
        row: Row = {}
        for c, v in zip(self.columns, values):
            if v is None:
                row[c.key] = None
            elif c.kind == FK:
                row[c.key] = {"id": v}
            elif c.kind == JSON:
                row[c.key] = json.loads(v)
            elif c.kind == BOOL:
                row[c.key] = bool(v)
            elif c.kind == INT:
                row[c.key] = int(v)
            elif c.kind == FLOAT:
                row[c.key] = float(v)
            else:
                row[c.key] = v
        return row

    def values(self, row: Row) -> list[Any]:
        """Row -> parameters in column order."""
        return [self.encode(c, row.get(c.key)) for c in self.columns]


class SqlSchema:
    """DDL/queries for every entity of a registry in one dialect (cached per entity)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._tables: dict[int, TableSql] = {}

    def table(self, entity: Any) -> TableSql:
        """Return the :class:`TableSql` of ``entity``."""
        t = self._tables.get(id(entity))
        if t is None or t.entity is not entity:
            t = self._tables[id(entity)] = TableSql(entity, self.dialect)
        return t

    def infra_sql(self) -> list[str]:
        """Statements creating the bookkeeping tables (schema_meta, tags, cluster_events)."""
        d = self.dialect
        stmts = [
            (
                "CREATE TABLE IF NOT EXISTS schema_meta (name TEXT PRIMARY KEY, executed_at "
                f"{d.types[FLOAT]} NOT NULL)"
            ),
            (
                "CREATE TABLE IF NOT EXISTS tags (entity_name TEXT NOT NULL, entity_id TEXT NOT NULL,"
                " tag TEXT NOT NULL, PRIMARY KEY (entity_name, entity_id, tag))"
            ),
            "CREATE INDEX IF NOT EXISTS tags_tag_idx ON tags (tag)",
        ]
        if d is POSTGRES:
            stmts += [
                (
                    f"CREATE TABLE IF NOT EXISTS cluster_events (id {d.serial_pk}, node_id TEXT NOT NULL,"
                    " entity TEXT NOT NULL, op TEXT NOT NULL, entity_id TEXT,"
                    " at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT clock_timestamp())"
                ),
                "CREATE INDEX IF NOT EXISTS cluster_events_at_idx ON cluster_events (at)",
            ]
        return stmts


class SqlTx:
    """A transaction over ``execute`` (see :class:`~kongtx.store.backend.Tx`)."""

    def __init__(self, schema: SqlSchema, execute: Execute, now: float) -> None:
        self._schema = schema
        self._exec = execute
        self.execute = execute
        self._p = schema.dialect.param
        self.now = now
        self.events: list[ChangeEvent] = []

    async def _select(
        self, t: TableSql, where: list[str], params: list[Any], tail: str = ""
    ) -> list[Row]:
        if t.live:
            where = where + [t.live]
            params = params + [self.now]
        sql = t.select_cols
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self._exec(sql + tail, params)
        return [t.decode_row(r) for r in rows]

    def _cond(self, t: TableSql, field: str, value: Any) -> tuple[str, list[Any]]:
        c = t.by_key[field]
        v = t.encode(c, value)
        if v is None:
            return f"{quote(c.name)} IS NULL", []
        return f"{quote(c.name)} = {self._p}", [v]

    async def get(self, entity: Any, id: str) -> Row | None:
        t = self._schema.table(entity)
        rows = await self._select(t, [f"{quote('id')} = {self._p}"], [id])
        return rows[0] if rows else None

    async def find(self, entity: Any, field: str, value: Any) -> Row | None:
        t = self._schema.table(entity)
        cond, params = self._cond(t, field, value)
        rows = await self._select(t, [cond], params, " LIMIT 1")
        return rows[0] if rows else None

    async def find_all(self, entity: Any, field: str, value: Any) -> list[Row]:
        t = self._schema.table(entity)
        cond, params = self._cond(t, field, value)
        return await self._select(t, [cond], params, f" ORDER BY {quote('id')}")

    async def insert(self, entity: Any, row: Row) -> None:
        t = self._schema.table(entity)
        await self._exec(t.insert_sql, t.values(row))
        if t.has_tags:
            await self._write_tags(t, row["id"], row.get("tags"))

    async def update(self, entity: Any, row: Row) -> None:
        t = self._schema.table(entity)
        values = t.values(row)
        id_index = next(i for i, c in enumerate(t.columns) if c.key == "id")
        params = values[:id_index] + values[id_index + 1 :] + [row["id"]]
        await self._exec(t.update_sql, params)
        if t.has_tags:
            await self._exec(
                f"DELETE FROM tags WHERE entity_name = {self._p} AND entity_id = {self._p}",
                [t.table, row["id"]],
            )
            await self._write_tags(t, row["id"], row.get("tags"))

    async def _write_tags(self, t: TableSql, rid: str, tags: list[str] | None) -> None:
        p = self._p
        for tag in dict.fromkeys(tags or ()):
            await self._exec(
                f"INSERT INTO tags (entity_name, entity_id, tag) VALUES ({p}, {p}, {p})",
                [t.table, rid, tag],
            )

    async def delete(self, entity: Any, id: str) -> None:
        t = self._schema.table(entity)
        if t.has_tags:
            await self._exec(
                f"DELETE FROM tags WHERE entity_name = {self._p} AND entity_id = {self._p}",
                [t.table, id],
            )
        await self._exec(t.delete_sql, [id])

    async def page(
        self,
        entity: Any,
        size: int,
        after: str | None,
        tags: list[str] | None,
        tags_cond: str,
        filters: dict[str, Any],
    ) -> list[Row]:
        t = self._schema.table(entity)
        p = self._p
        where: list[str] = []
        params: list[Any] = []
        if after is not None:
            where.append(f"{quote('id')} > {p}")
            params.append(after)
        for field, value in filters.items():
            cond, ps = self._cond(t, field, value)
            where.append(cond)
            params += ps
        if tags:
            inner = f"SELECT entity_id FROM tags WHERE entity_name = {p} AND tag IN ({self._schema.dialect.placeholders(len(tags))})"
            params += [t.table, *tags]
            if tags_cond != "or":
                inner += f" GROUP BY entity_id HAVING COUNT(DISTINCT tag) = {len(tags)}"
            where.append(f"{quote('id')} IN ({inner})")
        return await self._select(t, where, params, f" ORDER BY {quote('id')} LIMIT {int(size)}")

    async def all(self, entity: Any) -> list[Row]:
        t = self._schema.table(entity)
        return await self._select(t, [], [], f" ORDER BY {quote('id')}")

    async def upsert_many(self, entity: Any, rows: list[Row]) -> None:
        """Insert or replace (by id) ``rows`` in a few multi-row statements.

        ``created_at`` of a row that already exists is kept; tags are rewritten.
        """
        t = self._schema.table(entity)
        if not rows:
            return
        per = max(1, _MAX_PARAMS // len(t.columns))
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            params: list[Any] = []
            for row in chunk:
                params += t.values(row)
            await self._exec(t.upsert_sql(len(chunk)), params)
            if t.has_tags:
                await self._rewrite_tags(t, chunk)

    async def _rewrite_tags(self, t: TableSql, rows: list[Row]) -> None:
        p = self._p
        ids = [r["id"] for r in rows]
        await self._exec(
            f"DELETE FROM tags WHERE entity_name = {p} AND entity_id IN "
            f"({self._schema.dialect.placeholders(len(ids))})",
            [t.table, *ids],
        )
        triples = [
            (t.table, r["id"], tag) for r in rows for tag in dict.fromkeys(r.get("tags") or ())
        ]
        per = _MAX_PARAMS // 3
        for start in range(0, len(triples), per):
            chunk = triples[start : start + per]
            values = ", ".join([f"({p}, {p}, {p})"] * len(chunk))
            await self._exec(
                f"INSERT INTO tags (entity_name, entity_id, tag) VALUES {values}",
                [v for triple in chunk for v in triple],
            )

    async def purge_expired(self, entity: Any) -> None:
        t = self._schema.table(entity)
        if not t.entity.ttl:
            return
        p = self._p
        dead = f"{quote('ttl_expire_at')} IS NOT NULL AND {quote('ttl_expire_at')} <= {p}"
        if t.has_tags:
            await self._exec(
                f"DELETE FROM tags WHERE entity_name = {p} AND entity_id IN (SELECT {quote('id')} FROM {t.q_table} WHERE {dead})",
                [t.table, self.now],
            )
        await self._exec(f"DELETE FROM {t.q_table} WHERE {dead}", [self.now])
