"""A small self-healing pool of txpostgres connections with hard timeouts.

Why not ``txpostgres.ConnectionPool``: it never reconnects and cannot bound a
call's duration. Here every step (waiting for a slot, connecting, each
statement) is bounded by ``timeout`` seconds; a connection that fails or times
out is closed and replaced lazily on next use, so the pool recovers by itself
when the server is back. Failures surface as :class:`DatabaseUnavailable`.
"""

from __future__ import annotations

import math
import os
import ssl
from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet import error as net_error
from twisted.internet.defer import CancelledError, Deferred, DeferredSemaphore
from twisted.internet.task import Cooperator
from twisted.logger import Logger
from twisted.python.failure import Failure
from txpostgres import txpostgres

from kongtx.errors import DatabaseError, DatabaseUnavailable
from kongtx.store.pgdriver import psycopg2

_log = Logger()

# Errors meaning "the server/connection is gone", as opposed to a bad statement.
_UNAVAILABLE = (
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    net_error.ConnectionLost,
    net_error.ConnectionDone,
    net_error.ConnectError,
)


class PgSettings(Protocol):
    """The ``pg_*`` settings a connection needs (a :class:`kongtx.config.Config` has them)."""

    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str | None
    pg_database: str
    pg_ssl: bool
    pg_ssl_verify: bool
    pg_timeout: int
    pg_max_concurrent_queries: int
    pg_semaphore_timeout: int
    lua_ssl_trusted_certificate: list[str]
    prefix: str


def connect_kwargs(settings: PgSettings) -> dict[str, Any]:
    """Build psycopg2 connect keyword arguments from ``pg_*`` settings.

    ``pg_ssl`` requires TLS; with ``pg_ssl_verify`` the server certificate must
    chain to ``lua_ssl_trusted_certificate`` (``verify-ca``: the chain, not the
    host name, as Kong's pgmoon checks it).
    """
    kwargs: dict[str, Any] = {
        "host": settings.pg_host,
        "port": int(settings.pg_port),
        "user": settings.pg_user,
        "dbname": settings.pg_database,
        "connect_timeout": max(1, math.ceil(settings.pg_timeout / 1000)),
        "sslmode": "disable",
        "application_name": "kongtx",
    }
    if settings.pg_ssl:
        kwargs["sslmode"] = "require"
        if settings.pg_ssl_verify:
            bundle = trusted_bundle(settings)
            # libpq insists on host name checks against the system store
            kwargs["sslmode"] = "verify-full" if bundle == "system" else "verify-ca"
            kwargs["sslrootcert"] = bundle
    password = settings.pg_password
    if password:
        kwargs["password"] = password
    return kwargs


def trusted_bundle(settings: PgSettings) -> str:
    """The CA file libpq verifies against: ``lua_ssl_trusted_certificate``.

    One entry is used as is (``system``: libpq's system store); several are
    joined into ``<prefix>/pg_trusted_certificates.pem``.
    """
    entries = list(settings.lua_ssl_trusted_certificate or ["system"])
    if len(entries) == 1:
        return str(entries[0])
    parts = []
    for entry in entries:
        path = ssl.get_default_verify_paths().cafile if entry == "system" else entry
        if path:
            with open(path, encoding="ascii") as pem:
                parts.append(pem.read().strip() + "\n")
    prefix = settings.prefix or "."
    os.makedirs(prefix, exist_ok=True)
    bundle = os.path.join(prefix, "pg_trusted_certificates.pem")
    with open(bundle, "w", encoding="ascii") as out:
        out.writelines(parts)
    return bundle


def is_unavailable(exc: BaseException) -> bool:
    """True if ``exc`` means the database (or the connection to it) is gone."""
    if isinstance(exc, psycopg2.extensions.QueryCanceledError):
        return True
    return isinstance(exc, _UNAVAILABLE)


def _gone(raw: Any) -> bool:
    """Whether a driver connection is closed or has lost its socket."""
    if raw is None or raw.closed:
        return True
    try:
        return bool(raw.fileno() < 0)
    except psycopg2.Error:
        return True


class PgConnection(txpostgres.Connection):
    """A txpostgres connection that reports its loss to a callback."""

    on_lost: Callable[[PgConnection], None] | None = None

    def connectionLost(self, reason: Failure) -> None:
        super().connectionLost(reason)
        if self.on_lost is not None:
            cb, self.on_lost = self.on_lost, None
            cb(self)

    def cursorFinished(self, cursor: Any) -> None:
        if _gone(self._connection):
            # The socket is gone but the driver has not marked the connection closed
            # (psycopg2cffi leaves ``closed`` at 0 where psycopg2 sets 2): do not watch
            # fd -1 (txpostgres only checks ``closed``).
            self._cursors.remove(cursor)
            return
        super().cursorFinished(cursor)

    def doRead(self) -> Any:
        return _quietly(super().doRead)

    def doWrite(self) -> Any:
        return _quietly(super().doWrite)

    @property
    def alive(self) -> bool:
        """True while the underlying psycopg2 connection is open."""
        return not _gone(self._connection)


class PgPool:
    """Up to ``size`` connections; :meth:`run` lends one to an async function.

    :param reactor: provides ``callLater``, ``addReader``/``addWriter``.
    :param kwargs: psycopg2 connect keywords (see :func:`connect_kwargs`).
    :param timeout: seconds bounding each step (slot wait, connect, statement).
    :param on_state: called with True when the pool works again after a
        failure, with False when it first fails.
    :param semaphore_timeout: seconds a call may wait for one of the ``size``
        slots when they are an explicit limit (``pg_max_concurrent_queries``);
        past it the call fails with Kong's "error attempting to acquire query
        semaphore: timeout". ``None``: the wait is bounded by ``timeout`` and
        fails as the database being unavailable.
    """

    def __init__(
        self,
        reactor: Any,
        kwargs: dict[str, Any],
        *,
        size: int = 4,
        timeout: float = 5.0,
        on_state: Callable[[bool], None] | None = None,
        semaphore_timeout: float | None = None,
    ) -> None:
        self.reactor = reactor
        self.size = size
        self.semaphore_timeout = semaphore_timeout
        self.kwargs = kwargs
        self.timeout = timeout
        self.where = f"{kwargs.get('host')}:{kwargs.get('port')}"
        self._sem = DeferredSemaphore(size)
        self._idle: list[PgConnection] = []
        self._all: set[PgConnection] = set()
        self._cooperator = Cooperator(scheduler=lambda f: reactor.callLater(0, f))
        self._on_state = on_state
        self.healthy = True
        self._closed = False

    # -- plumbing -----------------------------------------------------------
    def unavailable(self, detail: str) -> DatabaseUnavailable:
        """Build the error raised when the server cannot be used."""
        return DatabaseUnavailable(
            f"database unavailable: could not connect to PostgreSQL at {self.where} ({detail})"
        )

    def timed(self, d: Deferred[Any], what: str, conn: PgConnection | None = None) -> Deferred[Any]:
        """Return a Deferred mirroring ``d`` that fails after ``timeout`` seconds.

        On timeout ``conn`` is closed (its state is unknown), which also makes
        ``d`` fail eventually; that late failure is swallowed.
        """
        out: Deferred[Any] = Deferred()

        def expire() -> None:
            if not out.called:
                # fail first: closing the connection fires ``d`` synchronously
                out.errback(self.unavailable(f"{what} timed out after {self.timeout:g}s"))
                if conn is not None:
                    self._kill(conn)

        call = self.reactor.callLater(self.timeout, expire)

        def done(result: Any) -> None:
            if call.active():
                call.cancel()
            if not out.called:
                if isinstance(result, Failure):
                    out.errback(result)
                else:
                    out.callback(result)

        d.addBoth(done)
        return out

    def new_connection(self) -> PgConnection:
        """Create an unconnected :class:`PgConnection` bound to our reactor."""
        return PgConnection(reactor=self.reactor, cooperator=self._cooperator)

    async def connect(self, conn: PgConnection | None = None) -> PgConnection:
        """Open a new connection (bounded by ``timeout``)."""
        conn = conn or self.new_connection()
        try:
            d = conn.connect(**self.kwargs)
        except Exception as exc:  # a synchronous psycopg2 failure
            raise self.unavailable(_first_line(exc)) from exc
        try:
            await self.timed(d, "connect", conn)
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            self._kill(conn)
            raise self.unavailable(_first_line(exc)) from exc
        return conn

    def _kill(self, conn: PgConnection) -> None:
        self._all.discard(conn)
        if conn in self._idle:
            self._idle.remove(conn)
        conn.on_lost = None
        close_quietly(conn)

    def _set_health(self, ok: bool, detail: str = "") -> None:
        if ok != self.healthy:
            self.healthy = ok
            if ok:
                _log.info("PostgreSQL at {where} available again", where=self.where)
            else:
                _log.warn(
                    "PostgreSQL at {where} unavailable: {detail}", where=self.where, detail=detail
                )
            if self._on_state is not None:
                self._on_state(ok)

    # -- public -------------------------------------------------------------
    async def run(self, fn: Callable[[PgConnection], Any]) -> Any:
        """Run ``await fn(conn)`` on a pooled connection.

        Connection-level failures close the connection and raise
        :class:`DatabaseUnavailable`; other errors pass through (the
        connection goes back to the pool).
        """
        if self._closed:
            raise self.unavailable("store closed")
        await self._acquire_slot()
        try:
            conn = await self._checkout()
            try:
                result = await fn(conn)
            except DatabaseUnavailable as exc:
                self._kill(conn)
                self._set_health(False, str(exc))
                raise
            except Exception as exc:
                if is_unavailable(exc) or not conn.alive:
                    self._kill(conn)
                    self._set_health(False, _first_line(exc))
                    raise self.unavailable(_first_line(exc)) from exc
                self._idle.append(conn)
                raise
            self._idle.append(conn)
            self._set_health(True)
            return result
        finally:
            self._sem.release()

    async def _acquire_slot(self) -> None:
        if self.semaphore_timeout is None:
            await self.timed(self._sem.acquire(), "waiting for a connection")
            return
        acquired = self._sem.acquire()
        if acquired.called:
            await acquired
            return
        expired = self.reactor.callLater(self.semaphore_timeout, acquired.cancel)
        try:
            await acquired
        except CancelledError:
            raise DatabaseError("error attempting to acquire query semaphore: timeout") from None
        finally:
            if expired.active():
                expired.cancel()

    async def _checkout(self) -> PgConnection:
        while self._idle:
            conn = self._idle.pop()
            if conn.alive:
                return conn
            self._kill(conn)
        try:
            conn = await self.connect()
        except DatabaseUnavailable as exc:
            self._set_health(False, str(exc))
            raise
        self._all.add(conn)
        return conn

    async def execute(
        self, conn: PgConnection, sql: str, params: Any = None
    ) -> list[tuple[Any, ...]]:
        """Execute one statement on ``conn`` (bounded) and return its rows (or [])."""
        try:
            cursor = conn.cursor()
            d = cursor.execute(sql, params)
        except psycopg2.Error as exc:
            if is_unavailable(exc):
                raise self.unavailable(_first_line(exc)) from exc
            raise
        cur = await self.timed(d, "query", conn)
        if cur.description is None:
            return []
        rows: list[tuple[Any, ...]] = cur.fetchall()
        return rows

    def close(self) -> None:
        """Close every connection; later calls fail with DatabaseUnavailable."""
        self._closed = True
        for conn in list(self._all) + list(self._idle):
            self._kill(conn)
        self._idle.clear()


def _quietly(step: Callable[[], Any]) -> Any:
    """Run a reactor read/write step of a connection; a server gone while the connection sat
    idle is returned as the reason to close it, not raised (the reactor would log an
    "Unhandled Error" traceback). The pool and the cluster listener log the state change.

    ``ValueError``: libpq dropped the socket, so txpostgres re-adds a reader for fd -1.
    """
    try:
        return step()
    except (psycopg2.Error, ValueError) as exc:
        return net_error.ConnectionLost(_first_line(exc))


def close_quietly(conn: PgConnection) -> None:
    """Close ``conn``; a connection that is already broken may refuse, which is fine."""
    try:
        if conn.pollable() is not None:  # txpostgres: the psycopg2 connection, if any
            conn.close()
    except psycopg2.Error as exc:
        _log.debug("closing a broken connection: {exc}", exc=exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0]
