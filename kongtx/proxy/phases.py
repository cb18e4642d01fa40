"""Running the plugins' phase hooks for one request, in Kong's order (each loop once).

``rewrite`` and ``access`` may answer the request (a :class:`ProxyExit`
propagates); ``header_filter``, ``body_filter`` and ``log`` cannot any more: a
failing hook is logged and the others still run.
"""

from __future__ import annotations

from collections.abc import Coroutine
from inspect import isawaitable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kongtx.errors import ProxyExit
from kongtx.plugins.base import LoadedPlugin, PluginConfig
from kongtx.proxy.context import ProxyContext

log = Logger()

#: A plugin with the config row it runs with on this request.
PluginRow = tuple[LoadedPlugin, PluginConfig]


# Each phase runs in two halves: ``start_*`` calls the hooks one after the other and
# returns None when all of them answered synchronously (the common case: no coroutine,
# no Deferred); at the first hook that returns an awaitable it hands the rest of the
# loop to a coroutine and returns its Deferred; that coroutine, once the hook is done,
# runs the rest of the loop the same way. ``run_phase`` awaits both (the same result).


def start_rewrite(ctx: ProxyContext) -> Deferred[None] | None:
    """The global plugins' ``rewrite`` hooks (before routing); a Deferred if one waits."""
    return _rewrite(ctx, ctx.snapshot.rewrite_plugins)


def _rewrite(ctx: ProxyContext, plugins: Any) -> Deferred[None] | None:
    scheme = ctx.request.scheme
    for index, (plugin, row) in enumerate(plugins):
        if scheme in row["protocols"]:
            result = plugin.handler.rewrite(ctx, row["config"])
            if result is not None and isawaitable(result):
                return Deferred.fromCoroutine(_finish_rewrite(ctx, result, plugins[index + 1 :]))
    return None


async def _finish_rewrite(ctx: ProxyContext, waiting: Any, rest: Any) -> None:
    """The rest of the ``rewrite`` loop once a hook returned ``waiting``."""
    await waiting
    more = _rewrite(ctx, rest)
    if more is not None:
        await more


def start_access(ctx: ProxyContext) -> Deferred[None] | None:
    """Collect the plugins of the matched route/service/consumer and run their ``access``.

    Every plugin is collected (later phases run them) even after one answered;
    the first answer is raised once the chain is walked (here, or by the Deferred
    returned when a hook waits).
    """
    route, service = ctx.route, ctx.service
    chain = ctx.snapshot.plugin_chain(
        route["id"] if route else None, service["id"] if service else None
    )
    return _access(ctx, chain, None)


def _access(ctx: ProxyContext, chain: Any, pending_exit: ProxyExit | None) -> Deferred[None] | None:
    """:func:`start_access` over ``chain``, with the answer already given (if any)."""
    scheme = ctx.request.scheme
    collected = ctx.plugins
    for index, entry in enumerate(chain):
        consumer = ctx.consumer
        row = entry.default if consumer is None else entry.resolve(consumer["id"])
        if row is None or scheme not in row["protocols"]:
            continue
        plugin = entry.plugin
        collected.append((plugin, row))
        if pending_exit is not None:
            continue
        hook = plugin.hooks.get("access")
        if hook is None:
            continue
        try:
            result = hook(ctx, row["config"])
        except ProxyExit as exc:
            pending_exit = exc
            continue
        except Exception:
            log.failure("plugin {name} failed in access", name=plugin.name)
            pending_exit = ProxyExit(500, "An unexpected error occurred")
            continue
        if result is not None and isawaitable(result):
            return Deferred.fromCoroutine(
                _finish_access(ctx, plugin.name, result, chain[index + 1 :])
            )
    if pending_exit is not None:
        raise pending_exit
    return None


async def _finish_access(ctx: ProxyContext, name: str, waiting: Any, rest: Any) -> None:
    """The rest of the ``access`` loop once a hook returned ``waiting``."""
    pending_exit: ProxyExit | None = None
    try:
        await waiting
    except ProxyExit as exc:
        pending_exit = exc
    except Exception:
        log.failure("plugin {name} failed in access", name=name)
        pending_exit = ProxyExit(500, "An unexpected error occurred")
    more = _access(ctx, rest, pending_exit)
    if more is not None:
        await more


def start_phase(ctx: ProxyContext, phase: str) -> Deferred[None] | None:
    """Run ``header_filter`` or ``log`` of the plugins collected for this request
    (a failing hook is logged); a Deferred if one of them waits."""
    return _phase(ctx, phase, ctx.plugins)


def _phase(ctx: ProxyContext, phase: str, plugins: list[PluginRow]) -> Deferred[None] | None:
    index = 0
    for plugin, row in plugins:
        index += 1
        hook = plugin.hooks.get(phase)
        if hook is None:
            continue
        try:
            result = hook(ctx, row["config"])
        except Exception:
            log.failure("plugin {name} failed in {phase}", name=plugin.name, phase=phase)
            continue
        if result is not None and isawaitable(result):
            return Deferred.fromCoroutine(
                _finish_phase(ctx, phase, plugin.name, result, plugins[index:])
            )
    return None


async def _finish_phase(
    ctx: ProxyContext, phase: str, name: str, waiting: Any, rest: list[PluginRow]
) -> None:
    """The rest of ``phase``'s loop once a hook returned ``waiting``."""
    try:
        await waiting
    except Exception:
        log.failure("plugin {name} failed in {phase}", name=name, phase=phase)
    more = _phase(ctx, phase, rest)
    if more is not None:
        await more


async def run_phase(ctx: ProxyContext, phase: str) -> None:
    """:func:`start_phase`, awaited."""
    waiting = start_phase(ctx, phase)
    if waiting is not None:
        await waiting


def body_filters(ctx: ProxyContext) -> list[PluginRow]:
    """The collected plugins that have a ``body_filter`` hook."""
    return [(p, row) for p, row in ctx.plugins if "body_filter" in p.phases]


def wants_whole_body(ctx: ProxyContext, filters: list[PluginRow]) -> bool:
    """Whether one of ``filters`` asked for the whole response body at once."""
    return any(p.handler.wants_response_body(row["config"], ctx) for p, row in filters)


async def run_body_filter(
    ctx: ProxyContext, filters: list[PluginRow], data: bytes, eof: bool
) -> bytes:
    """Pass one body chunk through ``filters``; each gets what the previous one returned."""
    for plugin, row in filters:
        try:
            result = plugin.handler.body_filter(ctx, row["config"], data, eof)
            if result is not None and not isinstance(result, bytes) and isawaitable(result):
                result = await result
            if result is not None:
                data = result
        except Exception:
            log.failure("plugin {name} failed in body_filter", name=plugin.name)
    return data


def filter_chunk(ctx: ProxyContext, filters: list[PluginRow], data: bytes, eof: bool) -> bytes:
    """:func:`run_body_filter` for a streamed chunk, which cannot wait: run to its end now."""
    return _run_now(run_body_filter(ctx, filters, data, eof), data)


async def filter_whole_body(ctx: ProxyContext, body: bytes) -> bytes:
    """The whole response body through every ``body_filter`` (``eof`` set); Content-Length follows."""
    body = await run_body_filter(ctx, body_filters(ctx), body, True)
    headers = ctx.response_headers
    if headers is not None and "content-length" in headers:
        headers.set("Content-Length", str(len(body)))
    return body


def _run_now(coroutine: Coroutine[Any, Any, bytes], unchanged: bytes) -> bytes:
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: bytes = done.value
        return result
    coroutine.close()
    log.error("a body_filter hook waited on a streamed chunk; the chunk is sent unfiltered")
    return unchanged


__all__ = [
    "PluginRow",
    "body_filters",
    "filter_chunk",
    "filter_whole_body",
    "run_body_filter",
    "run_phase",
    "start_access",
    "start_phase",
    "start_rewrite",
    "wants_whole_body",
]
