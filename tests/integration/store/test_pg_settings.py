"""pg_max_concurrent_queries, pg_semaphore_timeout, pg_ssl and pg_ssl_verify on a real server."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer

from kongtx.errors import DatabaseError, DatabaseUnavailable
from kongtx.store.postgres import DEFAULT_POOL_SIZE, PostgresBackend
from kongtx.tls import make_certificate
from tests.integration.store.conftest import pg_settings
from tests.support.pg_tls import PgTlsFront, listen


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


async def _concurrency(backend: PostgresBackend, calls: int) -> tuple[int, set[int]]:
    """Run ``calls`` slow transactions at once; returns the most in flight and the server pids."""
    state = {"now": 0, "max": 0}
    pids: set[int] = set()

    async def work(tx: Any) -> None:
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        try:
            rows = await tx.execute("SELECT pg_backend_pid(), pg_sleep(0.2)", None)
            pids.add(rows[0][0])
        finally:
            state["now"] -= 1

    await defer.gatherResults(
        [defer.Deferred.fromCoroutine(backend.transaction(work, 0.0)) for _ in range(calls)],
        consumeErrors=True,
    )
    return state["max"], pids


@pytest_twisted.ensureDeferred
async def test_max_concurrent_queries_bounds_the_connections(pg_db: Any) -> None:
    """A limit of 2: never more than 2 transactions at once, on at most 2 server sessions;
    without a limit the default pool runs more."""
    limited = PostgresBackend(
        pg_settings(pg_db, pg_max_concurrent_queries=2), _reactor(), str(uuid.uuid4())
    )
    try:
        most, pids = await _concurrency(limited, 6)
        assert most == 2 and len(pids) <= 2
    finally:
        await limited.close()
    default = PostgresBackend(pg_settings(pg_db), _reactor(), str(uuid.uuid4()))
    try:
        most, _ = await _concurrency(default, 6)
        assert most == DEFAULT_POOL_SIZE > 2
    finally:
        await default.close()


@pytest_twisted.ensureDeferred
async def test_semaphore_timeout_fails_the_waiting_query(pg_db: Any) -> None:
    """With one slot held longer than pg_semaphore_timeout, the waiting call gets Kong's error."""
    backend = PostgresBackend(
        pg_settings(pg_db, pg_max_concurrent_queries=1, pg_semaphore_timeout=100),
        _reactor(),
        str(uuid.uuid4()),
    )
    try:
        slow = defer.Deferred.fromCoroutine(
            backend.transaction(lambda tx: tx.execute("SELECT pg_sleep(0.6)", None), 0.0)
        )
        with pytest.raises(
            DatabaseError, match="error attempting to acquire query semaphore: timeout"
        ):
            await backend.transaction(lambda tx: tx.execute("SELECT 1", None), 0.0)
        await slow
        assert await backend.transaction(lambda tx: tx.execute("SELECT 1", None), 0.0) == [(1,)]
    finally:
        await backend.close()


@pytest_twisted.ensureDeferred
async def test_pg_ssl_requires_tls(pg_db: Any) -> None:
    """pg_ssl on against a server without TLS: refused (not silently plaintext)."""
    backend = PostgresBackend(
        pg_settings(pg_db, pg_ssl=True, pg_timeout=3000), _reactor(), str(uuid.uuid4())
    )
    try:
        with pytest.raises(DatabaseUnavailable, match="SSL"):
            await backend.ping()
    finally:
        await backend.close()


@pytest_twisted.ensureDeferred
async def test_pg_ssl_and_verify_through_a_tls_front(pg_db: Any, tmp_path: Any) -> None:
    """Through a TLS-terminating front: pg_ssl uses TLS; pg_ssl_verify accepts a server
    certificate from lua_ssl_trusted_certificate and refuses one from another CA."""
    ca = make_certificate("test pg ca", is_ca=True)
    cert, key = make_certificate("pg.test", issuer=ca)
    other_ca, _ = make_certificate("another ca", is_ca=True)
    (tmp_path / "ca.pem").write_bytes(ca[0])
    (tmp_path / "other.pem").write_bytes(other_ca)
    front = PgTlsFront(pg_db.host, pg_db.port, cert, key)
    port = listen(front)

    async def ping(**settings: Any) -> None:
        values = dict(pg_port=port.getHost().port, pg_host="127.0.0.1", pg_timeout=3000)
        values.update(settings)
        backend = PostgresBackend(pg_settings(pg_db, **values), _reactor(), str(uuid.uuid4()))
        try:
            await backend.ping()
        finally:
            await backend.close()

    try:
        await ping(pg_ssl=True)
        assert front.tls_sessions == 1
        await ping(
            pg_ssl=True, pg_ssl_verify=True, lua_ssl_trusted_certificate=[str(tmp_path / "ca.pem")]
        )
        assert front.tls_sessions == 2
        with pytest.raises(DatabaseUnavailable, match="certificate verify failed"):
            await ping(
                pg_ssl=True,
                pg_ssl_verify=True,
                lua_ssl_trusted_certificate=[str(tmp_path / "other.pem")],
            )
        await ping(
            pg_ssl=True,
            pg_ssl_verify=True,
            lua_ssl_trusted_certificate=[str(tmp_path / "other.pem"), str(tmp_path / "ca.pem")],
            prefix=str(tmp_path / "prefix"),
        )
        await ping(pg_ssl=False, pg_ssl_verify=True)  # verify alone changes nothing
        assert front.tls_sessions == 4
    finally:
        await port.stopListening()
