"""Start a real kongtx node on 127.0.0.1 (ports picked by the OS) and talk to it over HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.web.client import HTTPConnectionPool

from kongtx.config import load_config
from kongtx.service import GatewayNode, build_gateway
from tests.support.upstream import Upstream, start_upstream

FRONTENDS = ("native", "resource")


class Reply:
    """A response read in full: ``status``, ``headers`` (lower-case dict of lists), ``body``, ``json``."""

    def __init__(self, status: int, headers: dict[str, list[str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:200]!r})"


class RunningGateway:
    """A started node plus HTTP helpers for its Admin API and proxy."""

    def __init__(self, node: GatewayNode) -> None:
        self.node = node
        self.pool = HTTPConnectionPool(reactor, persistent=False)

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.node.port_of('admin')}"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.node.port_of('proxy')}"

    @property
    def proxy_ssl_port(self) -> int:
        return self.node.port_of("proxy_ssl")

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, Any] | None = None,
        json_body: Any = None,
        data: Any = None,
    ) -> Reply:
        kwargs: dict[str, Any] = {
            "headers": headers or {},
            "pool": self.pool,
            "allow_redirects": False,
        }
        if json_body is not None:
            kwargs["json"] = json_body
        elif data is not None:
            kwargs["data"] = data
        response = await treq.request(method, url, **kwargs)
        body = await response.content()
        raw = {
            name.decode().lower(): [v.decode("latin-1") for v in values]
            for name, values in response.headers.getAllRawHeaders()
        }
        return Reply(response.code, raw, body)

    async def admin(self, method: str, path: str, json_body: Any = None, **kwargs: Any) -> Reply:
        """Call the Admin API, then wait until the proxy's snapshot includes the change."""
        reply = await self.request(method, self.admin_url + path, json_body=json_body, **kwargs)
        if method != "GET":
            await self.synced()
        return reply

    async def proxy(self, method: str, path: str, **kwargs: Any) -> Reply:
        return await self.request(method, self.proxy_url + path, **kwargs)

    async def synced(self) -> None:
        """Wait until the snapshot has applied every write made so far."""
        assert self.node.snapshots is not None
        await self.node.snapshots.settled()

    async def route_with_plugin(
        self, name: str, plugin: str, config: dict[str, Any], service: str | None = "svc"
    ) -> None:
        """Create route ``name`` on path ``/<name>`` (under ``service`` if given) with ``plugin`` on it."""
        path = f"/services/{service}/routes" if service is not None else "/routes"
        reply = await self.admin("POST", path, {"name": name, "paths": [f"/{name}"]})
        assert reply.status == 201, reply
        reply = await self.admin(
            "POST", f"/routes/{name}/plugins", {"name": plugin, "config": config}
        )
        assert reply.status == 201, reply

    async def stop(self) -> None:
        await self.pool.closeCachedConnections()
        await self.node.stopService()


async def start_gateway(tmp_path: Any, frontend: str = "native", **settings: str) -> RunningGateway:
    """Start a node with an SQLite store in ``tmp_path`` and listeners on free loopback ports."""
    overrides = {
        "prefix": str(tmp_path / "prefix"),
        "database": "sqlite",
        "proxy_listen": "127.0.0.1:0, 127.0.0.1:0 ssl",
        "admin_listen": "127.0.0.1:0",
        "proxy_frontend": frontend,
    }
    overrides.update(settings)
    config = load_config(None, env={}, overrides=overrides)
    node = build_gateway(reactor, config)
    node.startService()
    await node.ready
    return RunningGateway(node)


@asynccontextmanager
async def gateway_and_upstream(
    tmp_path: Any,
    frontend: str = "native",
    *,
    service: str | None = None,
    routes: Mapping[str, str] | None = None,
    **settings: str,
) -> AsyncIterator[tuple[RunningGateway, Upstream]]:
    """Start a test upstream and a node (``settings`` as for :func:`start_gateway`); stop both on exit.

    :param service: if given, create a service of that name pointing at the upstream.
    :param routes: route name -> path, created under ``service``.
    """
    upstream = await start_upstream(reactor)
    try:
        gw = await start_gateway(tmp_path, frontend=frontend, **settings)
        try:
            if service is not None:
                reply = await gw.admin(
                    "POST",
                    "/services",
                    {"name": service, "url": f"http://127.0.0.1:{upstream.port}"},
                )
                assert reply.status == 201, reply
                for name, path in (routes or {}).items():
                    reply = await gw.admin(
                        "POST", f"/services/{service}/routes", {"name": name, "paths": [path]}
                    )
                    assert reply.status == 201, reply
            yield gw, upstream
        finally:
            await gw.stop()
    finally:
        await upstream.stop()


class RawClient(Protocol):
    """A raw TCP client: keeps every byte received; ``closed`` fires with them when the connection ends."""

    def __init__(self) -> None:
        self.data = b""
        self.closed: Deferred[bytes] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Any = None) -> None:
        self.closed.callback(self.data)


async def raw_connect(port: int) -> RawClient:
    """Open a plain TCP connection to ``127.0.0.1:port``."""
    client = RawClient()
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), client)
    return client


async def raw_exchange(port: int, payload: bytes, wait: float = 2.0) -> bytes:
    """Send ``payload`` on a new connection; everything received until it closes (or ``wait``)."""
    proto = await raw_connect(port)
    assert proto.transport is not None
    proto.transport.write(payload)
    timer = reactor.callLater(wait, proto.transport.loseConnection)
    data: bytes = await proto.closed
    if timer.active():
        timer.cancel()
    return data


@asynccontextmanager
async def postgres_nodes(
    tmp_path: Any, plugins: str, count: int = 2, **settings: str
) -> AsyncIterator[list[RunningGateway]]:
    """``count`` nodes on one throw-away PostgreSQL database (migrated for ``plugins``),
    polling far away (``db_update_frequency`` 30 s): only NOTIFY carries changes in time."""
    from kongtx.plugins.base import load_plugins
    from kongtx.store import open_store
    from tests.pg import create_database, drop_database

    db = create_database("kongtx_nodes")
    nodes: list[RunningGateway] = []
    try:
        pg = {k: str(v) for k, v in db.settings.items() if v is not None}
        load_plugins([p for p in plugins.split(",") if p])  # registers their tables
        config = load_config(None, env={}, overrides={"database": "postgres", **pg})
        dao = await open_store(config, reactor, auto_migrate=True)
        await dao.close()
        for index in range(count):
            nodes.append(
                await start_gateway(
                    tmp_path / f"node{index}",
                    database="postgres",
                    plugins=plugins,
                    db_update_frequency="30",
                    **pg,
                    **settings,
                )
            )
        yield nodes
    finally:
        for node in nodes:
            await node.stop()
        drop_database(db)
