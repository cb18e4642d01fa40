"""Embedded SQLite backend (the zero-setup default): ``<prefix>/kongtx.db``.

All statements run on the single thread of an ``adbapi.ConnectionPool``
(``cp_min = cp_max = 1``) holding one connection, so the reactor never blocks
and writes serialize. A transaction spans several thread hops, so a
``DeferredLock`` keeps other calls off the connection until it commits.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from twisted.enterprise import adbapi
from twisted.internet.defer import DeferredLock
from twisted.internet.threads import deferToThreadPool

from kongtx.errors import DatabaseError, KongtxError
from kongtx.store.sql import SQLITE, SqlSchema, SqlTx

T = TypeVar("T")


def _open(conn: sqlite3.Connection) -> None:
    for pragma in (
        "foreign_keys = ON",
        "journal_mode = WAL",
        "synchronous = NORMAL",
        "busy_timeout = 5000",
    ):
        conn.execute(f"PRAGMA {pragma}").close()  # closed at once (PyPy keeps it open otherwise)


class SqliteBackend:
    """SQLite file storage through adbapi's thread pool.

    :param path: the database file (``":memory:"`` works for tests).
    :param reactor: the reactor adbapi schedules on.
    """

    name = "sqlite"

    def __init__(self, path: str, reactor: Any) -> None:
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self.reactor = reactor
        self.schema = SqlSchema(SQLITE)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, sqlite3 must not.
        self.pool = adbapi.ConnectionPool(
            "sqlite3",
            path,
            check_same_thread=False,
            isolation_level=None,
            cp_min=1,
            cp_max=1,
            cp_reactor=reactor,
            cp_openfun=_open,
            cp_noisy=False,
        )
        self._lock = DeferredLock()
        self._closed = False

    def _run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        return deferToThreadPool(
            self.reactor, self.pool.threadpool, lambda: fn(self.pool.connect())
        )

    async def _execute(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        def work(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            cursor = conn.execute(sql, params or ())
            try:
                return cursor.fetchall()
            finally:
                # PyPy's sqlite3 keeps a finished statement open until the cursor is
                # closed, which makes the next COMMIT fail ("SQL statements in progress").
                cursor.close()

        try:
            rows: list[tuple[Any, ...]] = await self._run(work)
        except sqlite3.Error as exc:
            raise DatabaseError(f"sqlite error: {exc}") from exc
        return rows

    async def transaction(
        self, fn: Callable[[SqlTx], Awaitable[T]], now: float, write: bool = True
    ) -> T:
        """Run ``fn(tx)`` in ``BEGIN IMMEDIATE``/``BEGIN`` ... ``COMMIT`` (rollback on error)."""
        if self._closed:
            raise DatabaseError("store closed")
        await self._lock.acquire()
        try:
            tx = SqlTx(self.schema, self._execute, now)
            try:
                # Inside the try: a caller cancelled while BEGIN runs must not leave it open.
                await self._execute("BEGIN IMMEDIATE" if write else "BEGIN")
                result = await fn(tx)
                await self._execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise
            return result
        finally:
            self._lock.release()

    async def _rollback(self) -> None:
        try:
            await self._execute("ROLLBACK")
        except KongtxError:
            pass  # nothing open (e.g. BEGIN itself failed)

    async def ping(self) -> None:
        """Run ``SELECT 1``."""
        await self.transaction(lambda tx: tx.execute("SELECT 1", None), 0.0, write=False)

    async def close(self) -> None:
        """Stop the thread and close the connection."""
        if not self._closed:
            self._closed = True
            await self._lock.acquire()
            try:
                self.pool.close()
            finally:
                self._lock.release()
