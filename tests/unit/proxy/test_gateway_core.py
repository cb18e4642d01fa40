"""The gateway core in memory: routing, phases, forwarding and answering, without sockets.

A fake ``ResponseWriter`` records what the client would receive and a fake
forwarder stands for the upstream (``kongtx.proxy.upstream.UpstreamForwarder``),
so :class:`kongtx.proxy.gateway.Gateway`, :mod:`kongtx.proxy.phases`,
:mod:`kongtx.proxy.relay`, :mod:`kongtx.proxy.header_rewrite`,
:mod:`kongtx.proxy.responses` and :mod:`kongtx.proxy.snapshot` run as they do
behind a real listener.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock

from kongtx.config import load_config
from kongtx.errors import ProxyExit, UpstreamFailure
from kongtx.http.body import BufferedBody, StreamBody
from kongtx.http.client import UpstreamResponse
from kongtx.http.headers import Headers
from kongtx.plugins.base import LoadedPlugin, PluginConfig, PluginHandler, PluginSet, ProxyContext
from kongtx.plugins.testing import make_request
from kongtx.proxy.gateway import Gateway
from kongtx.proxy.snapshot import Snapshot

SERVICE = {
    "id": "s1",
    "name": "echo",
    "protocol": "http",
    "host": "upstream.test",
    "port": 80,
    "path": "/base",
    "retries": 5,
    "connect_timeout": 60000,
    "write_timeout": 60000,
    "read_timeout": 60000,
    "enabled": True,
}


def route(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "r1",
        "name": "r1",
        "protocols": ["http", "https"],
        "methods": None,
        "hosts": None,
        "paths": ["/api"],
        "headers": None,
        "snis": None,
        "regex_priority": 0,
        "strip_path": True,
        "preserve_host": False,
        "path_handling": "v0",
        "request_buffering": True,
        "response_buffering": True,
        "https_redirect_status_code": 426,
        "service": {"id": "s1"},
        "created_at": 1,
    }
    row.update(fields)
    return row


class FakeWriter:
    """A ``ResponseWriter`` recording what reaches the client."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: Headers | None = None
        self.chunks: list[bytes] = []
        self.finished = False
        self.aborted = False

    def write_head(self, status: int, headers: Headers, reason: str | None = None) -> None:
        assert self.status is None, "head written twice"
        self.status, self.headers = status, headers

    def write(self, data: bytes) -> None:
        assert self.status is not None and not self.finished
        self.chunks.append(data)

    def finish(self) -> None:
        self.finished = True

    def abort(self) -> None:
        self.aborted = True

    def register_producer(self, producer: IPushProducer) -> None:
        pass

    def unregister_producer(self) -> None:
        pass

    def on_disconnect(self, callback: Callable[[], None]) -> None:
        pass

    def upgrade(self) -> Any:
        raise AssertionError("no upgrade in these tests")

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def error_message(self) -> str:
        """The message of Kong's JSON error body (its request_id is the response's)."""
        assert self.headers is not None
        body = json.loads(self.body)
        assert body["request_id"] == self.headers.get("x-kong-request-id")
        return str(body["message"])


class FakeForwarder:
    """Answers every forwarded request with ``answer(ctx, target, headers)``."""

    def __init__(self, answer: Callable[[ProxyContext, str, Headers], UpstreamResponse]) -> None:
        self.answer = answer
        self.calls: list[tuple[str, Headers]] = []

    def forward(self, ctx: ProxyContext, target: str, headers: Headers) -> Deferred[Any]:
        self.calls.append((target, headers.copy()))
        try:
            return succeed(self.answer(ctx, target, headers))
        except Exception as exc:
            from twisted.internet.defer import fail

            return fail(exc)


def upstream(
    status: int = 200, headers: list[tuple[str, str]] | None = None, chunks: tuple[bytes, ...] = ()
) -> UpstreamResponse:
    body = StreamBody(None)
    for chunk in chunks:
        body.feed(chunk)
    body.end()
    return UpstreamResponse(status, "OK", Headers(headers or []), "1.1", body)


class Recorder(PluginHandler):
    name = "recorder"
    priority = 900
    phases_seen: list[str]

    def __init__(self) -> None:
        self.phases_seen = []

    def access(self, ctx: ProxyContext, conf: PluginConfig) -> None:
        self.phases_seen.append("access")
        if conf.get("deny"):
            raise ProxyExit(403, "denied")
        if conf.get("crash"):
            raise RuntimeError("plugin bug")
        if conf.get("host"):
            ctx.request.headers.set("Host", conf["host"])

    def header_filter(self, ctx: ProxyContext, conf: PluginConfig) -> None:
        self.phases_seen.append(f"header_filter:{ctx.response_status}")
        assert ctx.response_headers is not None
        ctx.response_headers.set("X-Recorded", "yes")

    def body_filter(
        self, ctx: ProxyContext, conf: PluginConfig, chunk: bytes, eof: bool
    ) -> bytes | None:
        return chunk.upper() if conf.get("upper") else None

    def log(self, ctx: ProxyContext, conf: PluginConfig) -> None:
        self.phases_seen.append(f"log:{ctx.response_status}:{ctx.response_source}")


def gateway(
    forwarder: FakeForwarder,
    plugin_conf: dict[str, Any] | None = None,
    routes: list[dict[str, Any]] | None = None,
) -> tuple[Gateway, Recorder, Clock]:
    handler = Recorder()
    plugins = PluginSet([LoadedPlugin(handler, _Module())])
    rows: dict[str, list[dict[str, Any]]] = {
        "services": [SERVICE],
        "routes": routes if routes is not None else [route()],
        "plugins": [],
    }
    if plugin_conf is not None:
        rows["plugins"].append(
            {
                "id": "p1",
                "name": "recorder",
                "config": plugin_conf,
                "protocols": ["http", "https"],
                "enabled": True,
                "route": None,
                "service": None,
                "consumer": None,
            }
        )
    snapshot = Snapshot(rows, plugins)
    clock = Clock()
    config = load_config(env={}, search_default_paths=False)
    return Gateway(clock, lambda: snapshot, forwarder, config), handler, clock  # type: ignore[arg-type]


class _Module:
    __name__ = "tests.recorder"


def serve(gw: Gateway, method: str, target: str, headers: list[tuple[str, str]]) -> FakeWriter:
    writer = FakeWriter()
    done = gw.handle(make_request(method, target, headers), writer)
    assert done.called, "the request should complete in memory"
    return writer


def test_no_route_is_kongs_404_and_logged() -> None:
    forwarder = FakeForwarder(lambda *_: upstream())
    gw, handler, _ = gateway(forwarder, plugin_conf={})
    writer = serve(gw, "GET", "/nowhere", [("Host", "h")])
    assert writer.status == 404 and writer.finished
    assert writer.error_message() == "no Route matched with those values"
    assert writer.headers is not None
    assert writer.headers.get("server", "").startswith("kongtx/")
    assert len(writer.headers.get("x-kong-request-id") or "") == 32
    assert not forwarder.calls
    # A global plugin still sees the answer in header_filter and log.
    assert handler.phases_seen == ["header_filter:404", "log:404:exit"]


def test_routed_request_is_rewritten_and_answer_relayed() -> None:
    forwarder = FakeForwarder(
        lambda *_: upstream(201, [("Content-Length", "5"), ("Connection", "close")], (b"hello",))
    )
    gw, handler, _ = gateway(forwarder, plugin_conf={})
    writer = serve(gw, "GET", "/api/items?q=1", [("Host", "client.test"), ("Connection", "x")])
    target, sent = forwarder.calls[0]
    assert target == "/base/items?q=1"  # strip_path, service path, query kept
    assert sent.get("x-forwarded-host") == "client.test"
    assert sent.get("x-forwarded-proto") == "http"
    assert sent.get("x-forwarded-prefix") == "/api"
    assert sent.get("via", "").endswith("kongtx/" + gw_version())
    assert sent.get("connection") != "x"
    assert writer.status == 201 and writer.body == b"hello" and writer.finished
    assert writer.headers is not None
    assert "connection" not in writer.headers  # hop-by-hop stripped
    assert writer.headers.get("x-recorded") == "yes"
    assert writer.headers.get("x-kong-upstream-latency") is not None
    assert handler.phases_seen == ["access", "header_filter:201", "log:201:service"]


def gw_version() -> str:
    from kongtx import __version__

    return __version__


def test_plugin_exit_skips_the_upstream_but_not_the_later_phases() -> None:
    forwarder = FakeForwarder(lambda *_: upstream())
    gw, handler, _ = gateway(forwarder, plugin_conf={"deny": True})
    writer = serve(gw, "GET", "/api", [("Host", "h"), ("Accept", "application/json")])
    assert writer.status == 403 and writer.error_message() == "denied"
    assert not forwarder.calls
    assert handler.phases_seen == ["access", "header_filter:403", "log:403:exit"]


def test_plugin_crash_is_a_500() -> None:
    gw, _, _ = gateway(FakeForwarder(lambda *_: upstream()), plugin_conf={"crash": True})
    writer = serve(gw, "GET", "/api", [("Host", "h")])
    assert writer.status == 500
    assert writer.error_message() == "An unexpected error occurred"


def test_upstream_failures_become_nginx_pages_or_kong_errors() -> None:
    def refuse(*_: Any) -> UpstreamResponse:
        raise UpstreamFailure(502)

    writer = serve(gateway(FakeForwarder(refuse))[0], "GET", "/api", [("Host", "h")])
    assert (
        writer.status == 502
        and b"An invalid response was received from the upstream server" in (writer.body)
    )

    def no_peer(*_: Any) -> UpstreamResponse:
        raise UpstreamFailure(503, "failure to get a peer from the ring-balancer")

    writer = serve(gateway(FakeForwarder(no_peer))[0], "GET", "/api", [("Host", "h")])
    assert writer.status == 503
    assert writer.error_message() == "failure to get a peer from the ring-balancer"


def test_streamed_body_goes_through_body_filter() -> None:
    forwarder = FakeForwarder(lambda *_: upstream(200, [], (b"ab", b"cd")))
    gw, _, _ = gateway(forwarder, plugin_conf={"upper": True})
    writer = serve(gw, "GET", "/api", [("Host", "h")])
    assert writer.status == 200 and writer.body == b"ABCD" and writer.finished


def test_plugin_set_host_wins_over_the_service_host() -> None:
    seen: list[str | None] = []

    def answer(ctx: ProxyContext, target: str, headers: Headers) -> UpstreamResponse:
        seen.append(ctx.upstream_host)
        return upstream()

    gw, _, _ = gateway(FakeForwarder(answer), plugin_conf={"host": "chosen.test"})
    serve(gw, "GET", "/api", [("Host", "client.test")])
    assert seen == ["chosen.test"]


def test_head_of_a_generated_answer_has_length_but_no_body() -> None:
    gw, _, _ = gateway(FakeForwarder(lambda *_: upstream()), plugin_conf={"deny": True})
    writer = serve(gw, "HEAD", "/api", [("Host", "h")])
    assert writer.status == 403 and writer.body == b""
    assert writer.headers is not None and int(writer.headers.get("content-length") or 0) > 0


def test_request_body_is_buffered_before_forwarding() -> None:
    bodies: list[bytes] = []

    def answer(ctx: ProxyContext, target: str, headers: Headers) -> UpstreamResponse:
        body = ctx.request.body
        assert isinstance(body, BufferedBody)
        bodies.append(body.data)
        return upstream()

    gw, _, _ = gateway(FakeForwarder(answer))
    stream = StreamBody(5)
    writer = FakeWriter()
    request = make_request("POST", "/api", [("Host", "h"), ("Content-Length", "5")], stream)
    done = gw.handle(request, writer)
    assert not done.called  # waits for the client's body (request_buffering)
    stream.feed(b"hel")
    stream.feed(b"lo")
    stream.end()
    assert done.called and bodies == [b"hello"] and writer.status == 200


def test_latency_headers_follow_the_clock() -> None:
    clock_holder: list[Clock] = []

    def answer(ctx: ProxyContext, target: str, headers: Headers) -> UpstreamResponse:
        clock_holder[0].advance(0.25)
        return upstream()

    gw, _, clock = gateway(FakeForwarder(answer))
    clock_holder.append(clock)
    writer = serve(gw, "GET", "/api", [("Host", "h")])
    assert writer.headers is not None
    assert writer.headers.get("x-kong-upstream-latency") == "250"
    assert writer.headers.get("x-kong-proxy-latency") == "0"
