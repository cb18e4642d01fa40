"""The datastore: DAO over SQLite (embedded default), PostgreSQL or memory.

``open_store(config, reactor)`` picks the backend from ``config.database``:

* ``sqlite`` – ``config.sqlite_path`` (``<prefix>/kongtx.db``), created and migrated automatically on
  first start (zero setup); later-registered entities get their tables too.
* ``postgres`` – the schema must exist: a database without kongtx tables
  raises ``Database needs bootstrapping; run 'kongtx migrations bootstrap'``
  and pending migrations raise ``New migrations available; run 'kongtx
  migrations up' to proceed`` (Kong's behaviour: schema changes on a shared
  database are an explicit operator step). ``auto_migrate=True`` (embedders,
  tests) bootstraps/migrates instead. A cluster listener follows the other
  nodes' writes.
* ``off`` – in-memory (DB-less).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Protocol

from kongtx.store.dao import DAO, Page
from kongtx.store.events import FULL_RELOAD, ChangeEvent
from kongtx.store.migrations import MigrationsNeeded, Migrator

if TYPE_CHECKING:
    from kongtx.store.pgpool import PgSettings

    class StoreSettings(PgSettings, Protocol):
        """What the store reads from the configuration (a ``Config`` has it)."""

        database: str
        db_update_frequency: float

        @property
        def sqlite_path(self) -> str:
            """The embedded database's file (``database = sqlite``)."""


__all__ = [
    "DAO",
    "FULL_RELOAD",
    "ChangeEvent",
    "MigrationsNeeded",
    "Migrator",
    "Page",
    "make_backend",
    "open_store",
]


def _registry(registry: Any) -> Any:
    if registry is None:
        from kongtx.schema import registry as default

        return default
    return registry


def make_backend(config: StoreSettings, reactor: Any, node_id: str | None = None) -> Any:
    """Build (without migrating) the backend named by ``config.database``."""
    database = config.database
    if database == "off" or database == "memory":
        from kongtx.store.memory import MemoryBackend

        return MemoryBackend(reactor)
    if database == "sqlite":
        from kongtx.store.sqlite import SqliteBackend

        return SqliteBackend(config.sqlite_path, reactor)
    if database == "postgres":
        from kongtx.store.postgres import PostgresBackend

        return PostgresBackend(config, reactor, node_id or str(uuid.uuid4()))
    raise ValueError(f"unknown database {database!r}")


async def open_store(
    config: StoreSettings,
    reactor: Any,
    *,
    registry: Any = None,
    auto_migrate: bool | None = None,
    migrations: Any = None,
) -> DAO:
    """Open the configured store and return its :class:`DAO`.

    :param config: a Config (``database``, ``prefix``, ``pg_*``, ``db_update_frequency``).
    :param auto_migrate: default True for sqlite, False for postgres (see module doc).
    :param migrations: named migrations (default: every registered one).
    :raises MigrationsNeeded: postgres schema missing/behind and not ``auto_migrate``.
    :raises DatabaseUnavailable: postgres unreachable.
    """
    registry = _registry(registry)
    node_id = str(uuid.uuid4())
    backend = make_backend(config, reactor, node_id)
    dao = DAO(backend, reactor, registry=registry)
    try:
        if backend.name != "memory":
            auto = (backend.name == "sqlite") if auto_migrate is None else auto_migrate
            await Migrator(backend, registry, migrations).ensure(auto)
        if backend.name == "postgres":
            from kongtx.store.cluster import ClusterListener

            listener = ClusterListener(
                backend.pool,
                node_id,
                dao.fire,
                config.db_update_frequency,
            )
            await listener.start()
            dao.add_closer(listener.stop)
            dao.cluster = listener  # type: ignore[attr-defined]
    except BaseException:
        await backend.close()
        raise
    return dao
