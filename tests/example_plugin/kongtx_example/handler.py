"""Adds a header upstream and downstream; can wait (a Deferred firing later) or raise."""

from __future__ import annotations

from twisted.internet import task

from kongtx.plugins.base import HookResult, PluginConfig, PluginHandler, ProxyContext

#: What the log phase saw: (status, request id, bytes sent), one entry per request.
LOGGED: list[tuple[int, str, int]] = []


class Handler(PluginHandler):
    name = "example-header"
    priority = 500
    version = "0.1.0"

    def access(self, ctx: ProxyContext, conf: PluginConfig) -> HookResult:
        if conf["fail"]:
            raise RuntimeError("example plugin asked to fail (secret=hunter2 must not leak)")
        ctx.request.headers.set(conf["header"], conf["value"])
        if conf["delay"]:
            # A hook answering later: the pipeline waits for the Deferred.
            return task.deferLater(ctx.clock, conf["delay"], lambda: None)
        return None

    def header_filter(self, ctx: ProxyContext, conf: PluginConfig) -> None:
        assert ctx.response_headers is not None
        ctx.response_headers.set(conf["header"], conf["value"])

    def log(self, ctx: ProxyContext, conf: PluginConfig) -> None:
        LOGGED.append((ctx.response_status, ctx.request_id, ctx.response_size))
        if conf["fail"]:
            raise RuntimeError("log hooks may fail too")
