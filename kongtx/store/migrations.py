"""Migrations: tables derived from the registered schemas, tracked in ``schema_meta``.

Migration names are ``000_base`` (bookkeeping tables: schema_meta, tags,
cluster_events) and ``table:<table>`` per registered entity, in registration
order (parents first). Entities registered later (plugin credentials) show up
as pending ``table:`` migrations and are created by :meth:`Migrator.up`.
Migrations only ever add tables, so running them is safe while other nodes
serve traffic; on PostgreSQL an advisory lock serializes concurrent runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kongtx.errors import KongtxError

BASE = "000_base"
_PG_LOCK_KEY = 0x6B6F6E67  # "kong"


class MigrationsNeeded(KongtxError):
    """The database schema is missing or behind the registered entities."""

    code, name, http_status = 8, "database error", 500


NEEDS_BOOTSTRAP = "Database needs bootstrapping; run 'kongtx migrations bootstrap'"
NEEDS_UP = "New migrations available; run 'kongtx migrations up' to proceed"


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
    """

    def __init__(self, backend: Any, registry: Any) -> None:
        self.backend = backend
        self.registry = registry
        self.sql = getattr(backend, "schema", None)

    def wanted(self) -> list[str]:
        """Every migration the registered schemas call for, in order."""
        return [BASE] + [f"table:{ent.table}" for ent in self.registry.all()]

    async def _tx(self, fn: Any) -> Any:
        return await self.backend.transaction(fn, 0.0)

    async def state(self) -> MigrationState:
        """Return executed and pending migrations."""
        if self.sql is None:
            return MigrationState(True, self.wanted(), [])

        async def work(tx: Any) -> MigrationState:
            if not await self._has_table(tx, "schema_meta"):
                return MigrationState(False, [], self.wanted())
            rows = await tx.execute("SELECT name FROM schema_meta ORDER BY executed_at, name", [])
            executed = [r[0] for r in rows]
            done = set(executed)
            return MigrationState(True, executed, [m for m in self.wanted() if m not in done])

        result: MigrationState = await self._tx(work)
        return result

    async def _has_table(self, tx: Any, name: str) -> bool:
        if self.sql.dialect.name == "sqlite":
            rows = await tx.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]
            )
            return bool(rows)
        rows = await tx.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return bool(rows and rows[0][0])

    async def _lock(self, tx: Any) -> None:
        if self.sql.dialect.name == "postgres":
            await tx.execute(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})", None)

    async def bootstrap(self) -> list[str]:
        """Create everything on an empty database; returns the migrations run.

        :raises MigrationsNeeded: never; returns [] if already bootstrapped.
        """
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
        by_name = {f"table:{ent.table}": ent for ent in self.registry.all()}
        p = self.sql.dialect.param

        async def work(tx: Any) -> list[str]:
            await self._lock(tx)
            done: set[str] = set()
            if await self._has_table(tx, "schema_meta"):
                done = {r[0] for r in await tx.execute("SELECT name FROM schema_meta", [])}
            ran = []
            for i, name in enumerate(self.wanted()):
                if name in done:
                    continue
                stmts = (
                    self.sql.infra_sql()
                    if name == BASE
                    else self.sql.table(by_name[name]).create_sql()
                )
                for stmt in stmts:
                    await tx.execute(stmt, None)
                await tx.execute(
                    f"INSERT INTO schema_meta (name, executed_at) VALUES ({p}, {p}) ON CONFLICT (name) DO NOTHING",
                    [name, float(i)],
                )
                ran.append(name)
            return ran

        result: list[str] = await self._tx(work)
        return result

    async def reset(self) -> list[str]:
        """Drop every kongtx table; returns the tables dropped."""
        if self.sql is None:
            reset = getattr(self.backend, "reset", None)
            if reset is not None:
                reset()
            return []
        registered = [ent.table for ent in self.registry.all()]

        async def work(tx: Any) -> list[str]:
            await self._lock(tx)
            recorded: list[str] = []
            if await self._has_table(tx, "schema_meta"):
                rows = await tx.execute(
                    "SELECT name FROM schema_meta ORDER BY executed_at DESC, name", []
                )
                recorded = [r[0][len("table:") :] for r in rows if r[0].startswith("table:")]
            # children before parents: unregistered (plugin) tables, then registry order reversed
            order = [t for t in recorded if t not in registered] + list(reversed(registered))
            order += ["tags", "cluster_events", "schema_meta"]
            dropped = []
            cascade = " CASCADE" if self.sql.dialect.name == "postgres" else ""
            for table in order:
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
