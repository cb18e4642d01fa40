"""The plugin testing kit (kongtx.plugins.testing) runs hooks and phases as the gateway does."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

from kongtx.errors import ProxyExit
from kongtx.http.body import StreamBody
from kongtx.plugins.base import PluginHandler, ProxyContext
from kongtx.plugins.testing import (
    assert_exit,
    make_context,
    make_node,
    make_request,
    run_hook,
    run_hook_deferred,
    run_phase,
    run_response,
)


class Recorder(PluginHandler):
    name = "recorder"
    priority = 10

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> None:
        ctx.shared.setdefault("order", []).append(conf["tag"])
        if conf.get("deny"):
            raise ProxyExit(403, "denied")

    def header_filter(self, ctx: ProxyContext, conf: dict[str, Any]) -> None:
        assert ctx.response_headers is not None
        ctx.response_headers.set("X-Seen", str(ctx.response_status))

    def body_filter(
        self, ctx: ProxyContext, conf: dict[str, Any], chunk: bytes, eof: bool
    ) -> bytes:
        return chunk.upper() + (b"!" if eof else b"")


class Early(Recorder):
    name = "early"
    priority = 100


class Whole(PluginHandler):
    name = "whole"

    def wants_response_body(self, conf: dict[str, Any], ctx: ProxyContext | None = None) -> bool:
        return True

    async def body_filter(
        self, ctx: ProxyContext, conf: dict[str, Any], chunk: bytes, eof: bool
    ) -> bytes:
        return chunk[::-1]


class Slow(PluginHandler):
    name = "slow"

    async def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> None:
        await deferLater(ctx.clock, 5, lambda: None)  # type: ignore[arg-type]
        raise ProxyExit(429, "slow down")


def test_run_hook_returns_the_exit_or_none() -> None:
    ctx = make_context()
    assert run_hook(Recorder(), "access", ctx, {"tag": "a"}) is None
    assert ctx.shared["order"] == ["a"]
    exit_ = run_hook(Recorder(), "access", ctx, {"tag": "b", "deny": True})
    assert assert_exit(exit_, 403, "denied") is exit_
    with pytest.raises(AssertionError):
        assert_exit(exit_, 401)
    with pytest.raises(AssertionError):
        assert_exit(None, 403)


def test_waiting_hook_runs_on_the_fake_clock() -> None:
    ctx = make_context()
    with pytest.raises(AssertionError, match="still waiting"):
        run_hook(Slow(), "access", ctx, {})
    d = run_hook_deferred(Slow(), "access", ctx, {})
    seen: list[Any] = []
    d.addCallback(seen.append)
    assert not seen
    ctx.clock.advance(5)  # type: ignore[attr-defined]
    assert seen[0].status == 429


def test_run_phase_in_kong_order_and_first_exit_stops() -> None:
    ctx = make_context()
    low, high = Recorder(), Early()
    assert run_phase(ctx, [(low, {"tag": "low"}), (high, {"tag": "high"})]) is None
    assert ctx.shared["order"] == ["high", "low"]
    ctx = make_context()
    exit_ = run_phase(ctx, [(low, {"tag": "low"}), (high, {"tag": "high", "deny": True})])
    assert_exit(exit_, 403)
    assert ctx.shared["order"] == ["high"]
    assert [p.name for p, _ in ctx.plugins] == ["early", "recorder"]


def test_run_response_streams_chunks_or_whole_body() -> None:
    ctx = make_context()
    body = run_response(Recorder(), ctx, {}, status=201, body=[b"ab", b"cd"])
    assert body == b"ABCD!"
    assert ctx.response_status == 201 and ctx.response_headers.get("x-seen") == "201"
    ctx = make_context()
    body = run_response(Whole(), ctx, {}, headers=[("Content-Length", "4")], body=[b"ab", b"cd"])
    assert body == b"dcba" and ctx.response_headers.get("content-length") == "4"


def test_make_context_routes_and_streams() -> None:
    stream = StreamBody(None)
    ctx = make_context(
        request=make_request("POST", "/r/7?x=1", [("Host", "h")], stream),
        route={"id": "r1", "paths": ["~/r/(?<n>\\d+)"]},
        service={"id": "s1"},
        uri_captures={0: "/r/7", 1: "7", "n": "7"},
    )
    assert ctx.route["id"] == "r1" and ctx.service["id"] == "s1"
    assert ctx.match is not None and ctx.match.uri_captures["n"] == "7"
    assert ctx.query_args() == [("x", "1")]
    read: Deferred[bytes] = ctx.read_body()
    stream.feed(b"hi")
    stream.end()
    assert read.result == b"hi"


def test_get_body_parses_by_content_type() -> None:
    ctx = make_context("POST", "/", [("Content-Type", "application/json")], b'{"a": [1]}')
    parsed = ctx.get_body().result
    assert parsed.args() == {"a": [1]}
    ctx = make_context("POST", "/", [("Content-Type", "text/plain")], b"a=1")
    assert ctx.get_body().result is None


def test_bundled_handlers_are_named_for_their_plugin() -> None:
    """The loader takes a module's one PluginHandler subclass; bundled ones say what they are."""
    from kongtx.plugins.base import load_plugins

    plugins = load_plugins(["bundled"])
    names = {p.name: type(p.handler).__name__ for p in plugins.ordered}
    assert names["key-auth"] == "KeyAuthHandler"
    assert all(cls != "Handler" for cls in names.values())


def test_make_node_starts_a_handler_with_its_settings_and_clock() -> None:
    """init_worker gets the node: settings parsed as kong.conf's, the fake clock, counters."""
    from twisted.internet.task import Clock

    from kongtx.plugins.base import PluginNode
    from kongtx.plugins.rate_limiting.handler import RateLimitingHandler

    class Starter(PluginHandler):
        name = "starter"

        def init_worker(self, node: PluginNode) -> None:
            self.started = (node.config.trusted_ips, node.reactor, node.worker_index)

    clock = Clock()
    node = make_node({"trusted_ips": "10.0.0.0/8"}, clock, worker_index=2)
    starter = Starter()
    starter.init_worker(node)
    assert starter.started == (["10.0.0.0/8"], clock, 2)
    assert make_node().config.trusted_ips == []  # the declared default

    # A counting plugin started on the node counts in the node's local store.
    limiter = RateLimitingHandler()
    limiter.init_worker(node)
    conf = {"minute": 1, "policy": "local", "limit_by": "ip", "fault_tolerant": True}
    conf.update(hide_client_headers=False, error_code=429, error_message="limited")
    assert run_hook(limiter, "access", make_context(clock=clock), conf) is None
    assert_exit(run_hook(limiter, "access", make_context(clock=clock), conf), 429)
    assert len(node.counters.local) == 1, "the node's store holds the counter"
    limiter.exit_worker()
