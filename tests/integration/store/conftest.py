"""Fixtures for the store suites: one DAO per test over every backend."""

from __future__ import annotations

import datetime
import tempfile
import types
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from kongtx.schema.entity import Entity
from kongtx.schema.fields import Foreign, Integer, Record, String
from kongtx.schema.registry import Registry, new_registry
from kongtx.store.dao import DAO
from kongtx.store.migrations import Migrator
from tests.pg import PgDatabase, pg_database_fixture

pg_db = pg_database_fixture(scope="module", prefix="kongtx_store")

BACKENDS = ["memory", "sqlite", "postgres"]
START = 1_700_000_000.0


def pg_settings(db: PgDatabase, **overrides: Any) -> Any:
    """A Config-like object pointing at ``db``."""
    values = dict(
        db.settings,
        pg_timeout=5000,
        pg_ssl=False,
        pg_ssl_verify=False,
        pg_max_concurrent_queries=0,
        pg_semaphore_timeout=60000,
        lua_ssl_trusted_certificate=["system"],
        prefix=tempfile.gettempdir(),
        db_update_frequency=1.0,
        database="postgres",
    )
    values.update(overrides)
    return types.SimpleNamespace(**values)


def test_registry() -> Registry:
    """Core entities plus a ttl credential, a restricting child and one plugin schema."""
    reg = new_registry()
    reg.register(
        Entity(
            "keyauth_credentials",
            [
                ("consumer", Foreign("consumers", on_delete="cascade", required=True)),
                ("key", String(unique=True, auto=True)),
            ],
            ttl=True,
            endpoint_key="key",
            admin_path="/key-auths",
            admin_nested_name="key-auth",
        )
    )
    reg.register(
        Entity(
            "acls",
            [("consumer", Foreign("consumers", required=True)), ("group", String(required=True))],
            cache_key=["consumer", "group"],
        )
    )
    reg.register_plugin_schema(
        "key-auth", Record([("key_names", String(default="apikey")), ("limit", Integer(default=5))])
    )
    return reg


test_registry.__test__ = False  # type: ignore[attr-defined]


@dataclass
class StoreEnv:
    """What a contract test gets."""

    name: str
    dao: DAO
    clock: Clock
    registry: Registry
    backend: Any


async def make_backend(name: str, tmp_path: Any, request: pytest.FixtureRequest) -> Any:
    """Build an empty, migrated backend called ``name``."""
    from twisted.internet import reactor

    if name == "memory":
        from kongtx.store.memory import MemoryBackend

        return MemoryBackend()
    if name == "sqlite":
        from kongtx.store.sqlite import SqliteBackend

        return SqliteBackend(str(tmp_path / f"db-{uuid.uuid4().hex[:6]}" / "kongtx.db"), reactor)
    from kongtx.store.postgres import PostgresBackend

    db = request.getfixturevalue("pg_db")
    return PostgresBackend(pg_settings(db), reactor, str(uuid.uuid4()))


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    """The backend under test."""
    return str(request.param)


async def fresh_dao(name: str, tmp_path: Any, request: pytest.FixtureRequest, reg: Registry) -> DAO:
    """A DAO over a clean database of backend ``name``, migrated for ``reg``; its clock
    (``dao.clock``, a ``Clock``) at START."""
    backend = await make_backend(name, tmp_path, request)
    migrator = Migrator(backend, reg)
    await migrator.reset()
    await migrator.up()
    clock = Clock()
    clock.advance(START)
    return DAO(backend, clock, registry=reg)


@pytest_twisted.async_yield_fixture
async def store(
    backend_name: str, tmp_path: Any, request: pytest.FixtureRequest
) -> AsyncIterator[StoreEnv]:
    """A fresh DAO (clock at START) over a clean database."""
    reg = test_registry()
    dao = await fresh_dao(backend_name, tmp_path, request, reg)
    try:
        yield StoreEnv(backend_name, dao, dao.clock, reg, dao.backend)
    finally:
        await dao.close()


def make_cert(cn: str = "example.com") -> tuple[str, str]:
    """Return a self-signed (cert PEM, key PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    )
