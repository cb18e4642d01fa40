"""Fixtures for the Admin API suite: a real store (sqlite file or a throw-away
PostgreSQL database) behind an AdminAPI served on 127.0.0.1, port 0."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_twisted

from tests.pg import create_database, drop_database


@dataclass
class Reply:
    """One HTTP answer: status, headers (lower-case name -> list[str]) and body."""

    status: int
    headers: dict[str, list[str]]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


class AdminClient:
    """Talks HTTP to the Admin API under test (non-persistent connections)."""

    def __init__(self, base: str, api: Any, dao: Any) -> None:
        self.base = base
        self.api = api
        self.dao = dao

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: Any = None,
        body: bytes | None = None,
        headers: dict[str, Any] | None = None,
    ) -> Reply:
        import treq
        from twisted.internet import reactor
        from twisted.web.client import Agent, HTTPConnectionPool

        pool = HTTPConnectionPool(reactor, persistent=False)
        client = treq.client.HTTPClient(Agent(reactor, pool=pool))
        hdrs: dict[bytes, list[bytes]] = {}
        for name, value in (headers or {}).items():
            values = value if isinstance(value, list) else [value]
            hdrs[name.encode()] = [v.encode() if isinstance(v, str) else v for v in values]
        data: Any = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            hdrs.setdefault(b"Content-Type", [b"application/json"])
        elif form is not None:
            from urllib.parse import urlencode

            data = urlencode(form, doseq=True).encode()
            hdrs.setdefault(b"Content-Type", [b"application/x-www-form-urlencoded"])
        elif body is not None:
            data = body
        resp = await client.request(method, self.base + path, data=data, headers=hdrs)
        raw = await resp.content()
        out_headers = {
            k.decode().lower(): [v.decode() for v in vs]
            for k, vs in resp.headers.getAllRawHeaders()
        }
        return Reply(resp.code, out_headers, raw)

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> Reply:
        return await self.request("POST", path, **kw)

    async def put(self, path: str, **kw: Any) -> Reply:
        return await self.request("PUT", path, **kw)

    async def patch(self, path: str, **kw: Any) -> Reply:
        return await self.request("PATCH", path, **kw)

    async def delete(self, path: str, **kw: Any) -> Reply:
        return await self.request("DELETE", path, **kw)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store_overrides(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, str]]:
    """kongtx.conf overrides selecting the backend under test."""
    prefix = str(tmp_path_factory.mktemp("kongtx-prefix"))
    if request.param == "sqlite":
        yield {"database": "sqlite", "prefix": prefix}
        return
    db = create_database("kongtx_admin_test")
    try:
        overrides = {
            "database": "postgres",
            "prefix": prefix,
            "pg_host": db.host,
            "pg_port": str(db.port),
            "pg_user": db.user,
            "pg_database": db.name,
            "pg_timeout": "2000",
        }
        if db.password:
            overrides["pg_password"] = db.password
        yield overrides
    finally:
        drop_database(db)


def make_config(overrides: dict[str, str]) -> Any:
    """A Config built only from ``overrides`` (no files, no environment)."""
    from kongtx.config import load_config

    return load_config(None, env={}, overrides=overrides, search_default_paths=False)


class FakeHealth:
    """A recording health provider (the balancer's interface, in memory)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def health(self, upstream: dict[str, Any], balancer_health: bool) -> dict[str, Any]:
        self.calls.append(("health", upstream["id"], balancer_health))
        if balancer_health:
            return {
                "data": {
                    "id": upstream["id"],
                    "health": "HEALTHCHECKS_OFF",
                    "balancer_health": "HEALTHY",
                    "details": {},
                }
            }
        return {
            "data": [
                {
                    "target": "10.0.0.1:8000",
                    "weight": 100,
                    "health": "HEALTHCHECKS_OFF",
                    "data": {"addresses": []},
                }
            ]
        }

    def set_health(
        self, upstream: dict[str, Any], target: dict[str, Any], address: str | None, healthy: bool
    ) -> None:
        self.calls.append(("set", upstream["id"], target["id"], address, healthy))


@pytest_twisted.async_yield_fixture(scope="module")
async def admin(store_overrides: dict[str, str]) -> Any:
    """An AdminClient over a running Admin API on a real store."""
    from twisted.internet import reactor

    from kongtx.admin import AdminAPI
    from kongtx.admin.site import AdminSite
    from kongtx.store import open_store

    config = make_config(store_overrides)
    dao = await open_store(config, reactor, auto_migrate=True)
    health = FakeHealth()
    api = AdminAPI(
        dao,
        config,
        node_id=str(uuid.uuid4()),
        plugins_available={"key-auth": {"version": "3.9.1", "priority": 1250}},
        health=health,
        server_stats=lambda: {"total_requests": 7},
        clock=reactor,
    )
    site = AdminSite.from_config(api.resource(), config, reactor)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    client = AdminClient(f"http://127.0.0.1:{port.getHost().port}", api, dao)
    client.health = health  # type: ignore[attr-defined]
    client.backend = store_overrides["database"]  # type: ignore[attr-defined]
    client.overrides = store_overrides  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        await port.stopListening()
        await dao.close()


def unique(prefix: str = "x") -> str:
    """A unique, name-safe identifier."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
