"""PostgreSQL helpers shared by test suites: throw-away databases on the test server.

The server is ``postgresql://postgres@127.0.0.1:5432/postgres`` unless the
environment variable ``KONGTX_TEST_PG_DSN`` names another one (libpq URI or
``key=value`` DSN). Each caller gets its own uniquely named database, created
before and dropped after use, so suites can run side by side on one server.

Usage in a suite's ``conftest.py``::

    from tests.pg import pg_database_fixture
    pg_db = pg_database_fixture(scope="module")

    def test_x(pg_db):            # pg_db is a PgDatabase
        settings = pg_db.settings  # pg_host, pg_port, pg_user, pg_password, pg_database

These helpers use synchronous psycopg2 on purpose: they run in pytest fixture
setup/teardown, never on the reactor thread while it serves requests.
"""

from __future__ import annotations

import os
import shlex
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from kongtx.store.pgdriver import psycopg2

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_dsn() -> str:
    """Return the DSN of the maintenance database (env ``KONGTX_TEST_PG_DSN`` wins)."""
    return os.environ.get("KONGTX_TEST_PG_DSN") or DEFAULT_DSN


@dataclass(frozen=True)
class PgDatabase:
    """A throw-away database: its name and the settings to reach it."""

    name: str
    host: str
    port: int
    user: str
    password: str | None

    @property
    def settings(self) -> dict[str, Any]:
        """Return kongtx ``pg_*`` settings pointing at this database."""
        return {
            "pg_host": self.host,
            "pg_port": self.port,
            "pg_user": self.user,
            "pg_password": self.password,
            "pg_database": self.name,
        }

    @property
    def dsn(self) -> str:
        """Return a libpq ``key=value`` DSN for this database."""
        parts = [
            f"host={self.host}",
            f"port={self.port}",
            f"user={self.user}",
            f"dbname={self.name}",
        ]
        if self.password:
            parts.append(f"password={self.password}")
        return " ".join(parts)


def _with_timeout(dsn: str, seconds: int) -> str:
    """``dsn`` with a connect timeout (in the DSN itself: psycopg2cffi takes no keywords next to one)."""
    if "://" in dsn:
        return dsn + ("&" if "?" in dsn else "?") + f"connect_timeout={seconds}"
    return f"{dsn} connect_timeout={seconds}"


def server_available() -> bool:
    """Return True if the test server accepts connections."""
    try:
        psycopg2.connect(_with_timeout(admin_dsn(), 3)).close()
    except psycopg2.OperationalError:
        return False
    return True


def _admin_connection() -> psycopg2.extensions.connection:
    conn = psycopg2.connect(_with_timeout(admin_dsn(), 5))
    conn.autocommit = True  # CREATE/DROP DATABASE refuse to run in a transaction
    return conn


def create_database(prefix: str = "kongtx_test") -> PgDatabase:
    """Create a uniquely named, empty database and return how to reach it."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = _admin_connection()
    try:
        params = _connection_parameters(conn)
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return PgDatabase(
        name=name,
        host=params.get("host") or "127.0.0.1",
        port=int(params.get("port") or 5432),
        user=params.get("user") or "postgres",
        password=_password_from_dsn(),
    )


def drop_database(db: PgDatabase | str) -> None:
    """Drop a database made by :func:`create_database`, closing its sessions first."""
    name = db.name if isinstance(db, PgDatabase) else db
    conn = _admin_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        conn.close()


def _dsn_fields(dsn: str) -> dict[str, str]:
    """The fields of a libpq DSN (URI or ``key=value``), for drivers without ``parse_dsn``
    (psycopg2cffi on PyPy)."""
    parse_dsn = getattr(psycopg2.extensions, "parse_dsn", None)
    if parse_dsn is not None:
        try:
            return dict(parse_dsn(dsn))
        except psycopg2.ProgrammingError:
            return {}
    if "://" in dsn:
        url = urllib.parse.urlsplit(dsn)
        fields = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        named = {"host": url.hostname, "port": url.port, "user": url.username}
        fields.update({k: str(v) for k, v in named.items() if v})
        if url.password:
            fields["password"] = urllib.parse.unquote(url.password)
        if url.path.strip("/"):
            fields["dbname"] = url.path.strip("/")
        return fields
    return dict(part.split("=", 1) for part in shlex.split(dsn) if "=" in part)


def _connection_parameters(conn: Any) -> dict[str, str]:
    """host, port and user of an open connection."""
    get = getattr(conn, "get_dsn_parameters", None)
    return get() if get is not None else _dsn_fields(admin_dsn())


def _password_from_dsn() -> str | None:
    return _dsn_fields(admin_dsn()).get("password") or os.environ.get("PGPASSWORD")


def pg_database_fixture(
    scope: str = "module", prefix: str = "kongtx_test"
) -> Callable[..., Iterator[PgDatabase]]:
    """Return a pytest fixture yielding a fresh :class:`PgDatabase` per ``scope``.

    The fixture fails (never skips) when the server is unreachable: the
    PostgreSQL suites must run wherever the server exists.
    """

    @pytest.fixture(scope=scope)
    def _fixture() -> Iterator[PgDatabase]:
        db = create_database(prefix)
        try:
            yield db
        finally:
            drop_database(db)

    return _fixture
