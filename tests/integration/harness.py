"""Start a real kongtx node on 127.0.0.1 (ports picked by the OS) and talk to it over HTTP."""
from __future__ import annotations

import json
from typing import Any

import treq
from twisted.internet import reactor
from twisted.web.client import HTTPConnectionPool

from kongtx.config import load_config
from kongtx.service import GatewayNode, build_gateway

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

    async def request(self, method: str, url: str, *, headers: dict[str, Any] | None = None,
                      json_body: Any = None, data: Any = None) -> Reply:
        kwargs: dict[str, Any] = {"headers": headers or {}, "pool": self.pool, "allow_redirects": False}
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
        """Wait for a snapshot rebuild that covers every write made so far."""
        assert self.node.snapshots is not None
        await self.node.snapshots.request_rebuild()

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
