"""A node on PostgreSQL reached through a :class:`Forwarder` the test can cut, black-hole and
restore: the set-up every database-outage test shares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from twisted.internet import reactor, task

from kongtx.config import load_config
from kongtx.plugins.base import load_plugins
from kongtx.store import open_store
from tests.integration.harness import RunningGateway, start_gateway
from tests.integration.store.forwarder import Forwarder
from tests.pg import create_database, drop_database


class OutageNode:
    """What :func:`node_behind_forwarder` yields: the running gateway and the forwarder
    between it and PostgreSQL (``cut()``, ``blackhole()``, ``restore()``)."""

    def __init__(self, gw: RunningGateway, forwarder: Forwarder) -> None:
        self.gw = gw
        self.forwarder = forwarder

    async def admin_back(self) -> Any:
        """Poll ``GET /services`` until the Admin API answers 200 again (at most 10 s);
        the last answer."""
        for _ in range(200):
            back = await self.gw.request("GET", self.gw.admin_url + "/services")
            if back.status == 200:
                break
            await task.deferLater(reactor, 0.05, lambda: None)
        return back


async def bootstrap(settings: dict[str, str], plugins: str = "off") -> None:
    """Create kongtx's tables in the database ``settings`` name (with the tables of
    ``plugins``, registered first as the CLI would)."""
    if plugins != "off":
        load_plugins([p.strip() for p in plugins.split(",")])
    config = load_config(None, env={}, overrides={"database": "postgres", **settings})
    dao = await open_store(config, reactor, auto_migrate=True)
    await dao.close()


@asynccontextmanager
async def node_behind_forwarder(
    tmp_path: Any, name: str, *, plugins: str = "off", **settings: str
) -> AsyncIterator[OutageNode]:
    """A fresh database ``<name>_...``, bootstrapped, and a node on it through a forwarder
    (``pg_timeout`` 1 s unless given; ``settings`` as for :func:`start_gateway`); the node,
    the forwarder and the database are gone on exit."""
    db = create_database(name)
    forwarder = Forwarder(reactor, db.host, db.port)
    port = await forwarder.start()
    pg = {
        "pg_host": "127.0.0.1",
        "pg_port": str(port),
        "pg_user": db.user,
        "pg_database": db.name,
    }
    gw = None
    try:
        await bootstrap(pg, plugins)
        gw = await start_gateway(
            tmp_path,
            database="postgres",
            plugins=plugins,
            **{"pg_timeout": "1000", **settings, **pg},
        )
        yield OutageNode(gw, forwarder)
    finally:
        if gw is not None:
            await gw.stop()
        await forwarder.stop()
        drop_database(db)
