"""Embedding: kongtx inside another Twisted application, its gateway mounted in the app's own Site."""

from __future__ import annotations

import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import Site

import kongtx
from tests.integration.harness import RunningGateway
from tests.support.upstream import start_upstream


class _Health(Resource):
    """A page of the host application itself."""

    isLeaf = True

    def render_GET(self, request) -> bytes:
        return b"app ok"


@pytest_twisted.ensureDeferred
async def test_gateway_resource_mounted_in_an_application_site(tmp_path):
    """build_gateway + GatewayResource under /api of an app's own Site; the app keeps its other pages."""
    upstream = await start_upstream(reactor)
    config = kongtx.load_config(
        None,
        env={},
        overrides={
            "prefix": str(tmp_path / "p"),
            "proxy_listen": "off",
            "admin_listen": "127.0.0.1:0",
        },
    )
    node = kongtx.build_gateway(reactor, config)
    node.startService()
    await node.ready
    gw = RunningGateway(node)
    root = Resource()
    root.putChild(b"health", _Health())
    root.putChild(b"api", kongtx.GatewayResource(node.gateway, reactor))
    port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
    base = f"http://127.0.0.1:{port.getHost().port}"
    try:
        assert node.ports["proxy"] == []  # the application owns the only HTTP listener
        reply = await gw.admin(
            "POST", "/services", {"name": "s", "url": f"http://127.0.0.1:{upstream.port}"}
        )
        assert reply.status == 201
        await gw.admin("POST", "/services/s/routes", {"paths": ["/api"]})
        proxied = await treq.get(base + "/api/users?q=1", pool=gw.pool)
        assert proxied.code == 200
        assert (await proxied.json())["path"] == "/users"
        own = await treq.get(base + "/health", pool=gw.pool)
        assert await own.content() == b"app ok"
    finally:
        await port.stopListening()
        await gw.stop()
        await upstream.stop()


@pytest_twisted.ensureDeferred
async def test_plugins_start_on_the_node_and_stop_with_it(tmp_path, frontend, monkeypatch):
    """build_gateway starts every plugin once with init_worker(node), its store open and not
    serving yet, whichever front-end serves; exit_worker runs once when the node stops."""
    from kongtx.logsinks.plugin import LogPluginHandler
    from kongtx.plugins.prometheus.handler import PrometheusHandler
    from kongtx.ratelimit.plugin import CountingPlugin
    from tests.integration.harness import start_gateway

    seen: list[tuple[str, object, bool, bool]] = []
    stopped: list[str] = []
    for cls in (PrometheusHandler, LogPluginHandler, CountingPlugin):

        def init_worker(self, node, _original=cls.init_worker):
            seen.append((self.name, node, node.dao is not None, node.ready.called))
            _original(self, node)

        def exit_worker(self, _original=cls.exit_worker):
            stopped.append(self.name)
            return _original(self)

        monkeypatch.setattr(cls, "init_worker", init_worker)
        monkeypatch.setattr(cls, "exit_worker", exit_worker)
    gw = await start_gateway(tmp_path, frontend, plugins="prometheus,tcp-log,rate-limiting")
    try:
        names = sorted(name for name, *_ in seen)
        assert names == ["prometheus", "rate-limiting", "tcp-log"]
        assert all(node is gw.node and opened and not serving for _, node, opened, serving in seen)
        assert stopped == []
    finally:
        await gw.stop()
    assert sorted(stopped) == names
