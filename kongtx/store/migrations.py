"""Migrations: the database schema follows the registered schemas, tracked in ``schema_meta``.

Three kinds of migration, in the order they run:

* ``000_base`` – bookkeeping tables (schema_meta, tags, cluster_events);
* ``table:<table>`` – one per registered entity (parents first), creating its
  table with every column;
* ``column:<table>.<column>`` – a column the entity's schema has but its
  existing table lacks (a field added in a later version): ``ALTER TABLE ...
  ADD COLUMN``, existing rows get the field's default, a unique field gets a
  unique index. These are found by reading the table's columns;
* named migrations registered with :func:`register_migration` (for tables
  that are no entity, e.g. rate-limiting counters), in registration order.

Adding a field or an entity therefore needs no migration code; ``kongtx
migrations list`` shows what is pending and ``up`` runs it. Migrations only
ever add, so running them is safe while other nodes serve traffic; on
PostgreSQL an advisory lock serializes concurrent runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kongtx.errors import KongtxError
from kongtx.schema.fields import default_value

BASE = "000_base"
_PG_LOCK_KEY = 0x6B6F6E67  # "kong"


class MigrationsNeeded(KongtxError):
    """The database schema is missing or behind the registered entities."""

    code, name, http_status = 8, "database error", 500


NEEDS_BOOTSTRAP = "Database needs bootstrapping; run 'kongtx migrations bootstrap'"
NEEDS_UP = "New migrations available; run 'kongtx migrations up' to proceed"


@dataclass(frozen=True)
class Migration:
    """A named migration for tables that are not entities.

    :param name: unique, ``"<plugin>:<nnn>_<what>"`` (e.g. ``"rate-limiting:001_counters"``).
    :param up: ``up(dialect) -> [sql, ...]`` (``dialect.name`` is ``"sqlite"`` or
        ``"postgres"``, ``dialect.types`` maps kinds to column types).
    :param tables: the tables it creates, dropped by ``migrations reset``.
    """

    name: str
    up: Callable[[Any], list[str]]
    tables: tuple[str, ...] = ()


_registered: dict[str, Migration] = {}


def register_migration(migration: Migration) -> Migration:
    """Add a named migration (idempotent per name; call at plugin import)."""
    _registered.setdefault(migration.name, migration)
    return _registered[migration.name]


def registered_migrations() -> list[Migration]:
    """The named migrations registered so far, in order."""
    return list(_registered.values())


@dataclass(frozen=True)
class MigrationState:
    """Where the database stands."""

    bootstrapped: bool
    executed: list[str]
    pending: list[str]


class Migrator:
    """Bootstrap / up / reset / list over a SQL backend (memory: always up to date).

    :param backend: a backend with ``transaction`` and a ``schema`` (:class:`~kongtx.store.sql.SqlSchema`).
    :param registry: the schema registry (``all()``).
    :param migrations: named migrations (default: those registered with :func:`register_migration`).
    """

    def __init__(
        self, backend: Any, registry: Any, migrations: Sequence[Migration] | None = None
    ) -> None:
        self.backend = backend
        self.registry = registry
        self.sql: Any = getattr(backend, "schema", None)
        self._named = list(migrations) if migrations is not None else None

    @property
    def named(self) -> list[Migration]:
        """The named migrations this migrator runs."""
        return self._named if self._named is not None else registered_migrations()

    async def _tx(self, fn: Any) -> Any:
        return await self.backend.transaction(fn, 0.0)

    async def _plan(self, tx: Any) -> list[tuple[str, list[str], list[Any]]]:
        """Every migration the database still needs: ``(name, statements, backfills)``.

        ``backfills`` are ``(sql, params)`` pairs run after the statements.
        """
        plan: list[tuple[str, list[str], list[Any]]] = []
        if not await self._has_table(tx, "schema_meta"):
            plan.append((BASE, self.sql.infra_sql(), []))
        for ent in self.registry.all():
            t = self.sql.table(ent)
            if not await self._has_table(tx, t.table):
                plan.append((f"table:{t.table}", t.create_sql(), []))
                continue
            present = await self._columns(tx, t.table)
            for c in t.columns:
                if c.name in present:
                    continue
                backfill = []
                field = ent.fields.get(c.key)
                default = default_value(field, None) if field is not None else None
                if default is not None:
                    p = self.sql.dialect.param
                    backfill.append(
                        (f'UPDATE {t.q_table} SET "{c.name}" = {p}', [t.encode(c, default)])
                    )
                plan.append((f"column:{t.table}.{c.name}", t.add_column_sql(c), backfill))
        done = await self._executed(tx)
        for m in self.named:
            if m.name not in done:
                plan.append((m.name, m.up(self.sql.dialect), []))
        return plan

    async def _executed(self, tx: Any) -> list[str]:
        if not await self._has_table(tx, "schema_meta"):
            return []
        rows = await tx.execute("SELECT name FROM schema_meta ORDER BY executed_at, name", [])
        return [r[0] for r in rows]

    async def state(self) -> MigrationState:
        """Return executed and pending migrations."""
        if self.sql is None:
            return MigrationState(True, [], [])

        async def work(tx: Any) -> MigrationState:
            bootstrapped = await self._has_table(tx, "schema_meta")
            executed = await self._executed(tx)
            pending = [name for name, _, _ in await self._plan(tx)]
            return MigrationState(bootstrapped, executed, pending)

        result: MigrationState = await self._tx(work)
        return result

    async def _has_table(self, tx: Any, name: str) -> bool:
        if self.sql.dialect.name == "sqlite":
            rows = await tx.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]
            )
            return bool(rows)
        rows = await tx.execute("SELECT to_regclass(%s) IS NOT NULL", [f'"{name}"'])
        return bool(rows and rows[0][0])

    async def _columns(self, tx: Any, table: str) -> set[str]:
        if self.sql.dialect.name == "sqlite":
            rows = await tx.execute(f'PRAGMA table_info("{table}")', None)
            return {r[1] for r in rows}
        rows = await tx.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s",
            [table],
        )
        return {r[0] for r in rows}

    async def _lock(self, tx: Any) -> None:
        if self.sql.dialect.name == "postgres":
            await tx.execute(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})", None)

    async def bootstrap(self) -> list[str]:
        """Create everything on an empty database; returns the migrations run ([] if bootstrapped)."""
        state = await self.state()
        if state.bootstrapped:
            return []
        return await self._run_pending()

    async def up(self) -> list[str]:
        """Run pending migrations (bootstrapping first if needed); returns their names."""
        return await self._run_pending()

    async def _run_pending(self) -> list[str]:
        if self.sql is None:
            return []
        p = self.sql.dialect.param

        async def work(tx: Any) -> list[str]:
            await self._lock(tx)
            last = await self._last_order(tx)
            ran = []
            for name, stmts, backfills in await self._plan(tx):
                for stmt in stmts:
                    await tx.execute(stmt, None)
                for sql, params in backfills:
                    await tx.execute(sql, params)
                last += 1.0
                await tx.execute(
                    f"INSERT INTO schema_meta (name, executed_at) VALUES ({p}, {p})"
                    " ON CONFLICT (name) DO NOTHING",
                    [name, last],
                )
                ran.append(name)
            return ran

        result: list[str] = await self._tx(work)
        return result

    async def _last_order(self, tx: Any) -> float:
        if not await self._has_table(tx, "schema_meta"):
            return -1.0
        rows = await tx.execute("SELECT MAX(executed_at) FROM schema_meta", [])
        return float(rows[0][0]) if rows and rows[0][0] is not None else -1.0

    async def reset(self) -> list[str]:
        """Drop every kongtx table; returns the tables dropped."""
        if self.sql is None:
            reset = getattr(self.backend, "reset", None)
            if reset is not None:
                reset()
            return []
        registered = [ent.table for ent in self.registry.all()]
        named_tables = [t for m in reversed(self.named) for t in m.tables]

        async def work(tx: Any) -> list[str]:
            await self._lock(tx)
            recorded = [
                name[len("table:") :]
                for name in reversed(await self._executed(tx))
                if name.startswith("table:")
            ]
            # children before parents: named tables, unregistered (plugin) tables, registry reversed
            order = named_tables + [t for t in recorded if t not in registered]
            order += list(reversed(registered)) + ["tags", "cluster_events", "schema_meta"]
            dropped = []
            cascade = " CASCADE" if self.sql.dialect.name == "postgres" else ""
            for table in dict.fromkeys(order):
                if await self._has_table(tx, table):
                    await tx.execute(f'DROP TABLE IF EXISTS "{table}"{cascade}', None)
                    dropped.append(table)
            return dropped

        result: list[str] = await self._tx(work)
        return result

    async def ensure(self, auto: bool) -> list[str]:
        """Make the schema current (``auto``) or raise :class:`MigrationsNeeded`."""
        state = await self.state()
        if not state.pending:
            return []
        if not auto:
            raise MigrationsNeeded(NEEDS_UP if state.bootstrapped else NEEDS_BOOTSTRAP)
        return await self._run_pending()
