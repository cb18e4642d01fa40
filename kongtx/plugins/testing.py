"""The plugin testing kit: run a plugin's hooks in memory, without sockets or a database.

A third-party plugin's unit tests (and the bundled plugins') build a real
:class:`~kongtx.proxy.context.ProxyContext` over a real in-memory
:class:`~kongtx.proxy.snapshot.Snapshot`, run one hook or a whole phase, give
the plugin a fake upstream answer and look at what reached the client::

    from kongtx.plugins.testing import make_context, run_hook, run_response

    ctx = make_context(headers=[("apikey", "k1")], rows={"consumers": [...]})
    exit_ = run_hook(MyHandler(), "access", ctx, conf)        # ProxyExit or None
    body = run_response(MyHandler(), ctx, conf, status=200, body=b"{}")

A handler whose ``init_worker`` takes settings or the reactor is started on
:func:`make_node` (``handler.init_worker(make_node({"trusted_ips": "10.0.0.0/8"}))``).

Time is a :class:`twisted.internet.task.Clock` (``ctx.clock``): advance it
instead of sleeping. Hooks that wait on something the test controls (a
streamed body, the clock) are run with :func:`run_hook_deferred`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping
from inspect import isawaitable
from typing import Any, Optional

from twisted.internet.defer import Deferred, ensureDeferred, fail, succeed
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from kongtx.bus import NodeBus
from kongtx.cache import Entities, EntityCache
from kongtx.config import Config, load_config
from kongtx.errors import ProxyExit
from kongtx.http.body import Body, BufferedBody
from kongtx.http.gateway_io import GatewayRequest
from kongtx.http.headers import Headers
from kongtx.plugins.base import LoadedPlugin, PluginConfig, PluginHandler, PluginSet
from kongtx.proxy import phases
from kongtx.proxy.context import ProxyContext
from kongtx.proxy.snapshot import Snapshot
from kongtx.ratelimit.counters import LocalCounters
from kongtx.ratelimit.policies import CounterPolicies
from kongtx.router import Match

__all__ = [
    "RowsSource",
    "TestNode",
    "assert_exit",
    "make_context",
    "make_entities",
    "make_node",
    "make_request",
    "make_snapshot",
    "run_hook",
    "run_hook_deferred",
    "run_phase",
    "run_response",
    "upstream_answer",
]

Rows = Mapping[str, Iterable[dict[str, Any]]]


def make_request(
    method: str = "GET",
    target: str = "/",
    headers: Iterable[tuple[str, str]] = (),
    body: bytes | Body | None = None,
    *,
    scheme: str = "http",
    client_ip: str = "127.0.0.1",
    client_port: int = 5000,
    server_port: int = 8000,
    sni: str | None = None,
) -> GatewayRequest:
    """A client request as the HTTP server hands it to the gateway (``bytes`` body: buffered)."""
    if isinstance(body, bytes):
        body = BufferedBody(body)
    return GatewayRequest(
        method,
        target,
        "1.1",
        Headers(list(headers)),
        scheme,
        client_ip,
        client_port,
        server_port,
        sni=sni,
        body=body,
    )


def make_snapshot(rows: Rows | None = None) -> Snapshot:
    """An in-memory configuration snapshot of ``rows`` (``{"routes": [...], ...}``)."""
    plain = {table: list(found) for table, found in (rows or {}).items()}
    return Snapshot(plain, PluginSet([]))


class RowsSource:
    """What the entity cache reads on a miss, over hand-built ``rows``
    (``{"consumers": [...], "keyauth_credentials": [...]}``): the same row objects,
    answered synchronously, each read counted in :attr:`queries`."""

    def __init__(self, rows: Rows | None = None) -> None:
        #: The rows read (the mapping given, not a copy: a test may change it).
        self.rows: Rows = rows if rows is not None else {}
        self.queries = 0

    def select(self, entity: str, id: str) -> dict[str, Any] | None:
        """The row ``id`` of ``entity``."""
        return self.select_by_field(entity, "id", id)

    def select_by_field(self, entity: str, field: str, value: Any) -> dict[str, Any] | None:
        """The first row whose ``field`` is ``value``."""
        self.queries += 1
        for row in self.rows.get(entity, ()):
            if row.get(field) == value:
                return row
        return None

    def select_all_by(self, entity: str, field: str, value: Any) -> list[dict[str, Any]]:
        """The rows whose ``field`` (a foreign key: its id) is ``value``, in list order."""
        self.queries += 1
        out = []
        for row in self.rows.get(entity, ()):
            ref = row.get(field)
            if (ref.get("id") if isinstance(ref, dict) else ref) == value:
                out.append(row)
        return out


def make_entities(rows: Rows | None = None, clock: Clock | None = None, **cache: Any) -> Entities:
    """The entity cache over ``rows`` (``ctx.entities``); ``cache``: :class:`EntityCache`
    options (``max_bytes``, ``ttl``, ``neg_ttl``). ``entities.source`` is the :class:`RowsSource`."""
    return Entities(EntityCache(clock or Clock(), **cache), RowsSource(rows))


class TestNode:
    """A worker's node as :meth:`PluginHandler.init_worker` sees it, in memory: the
    settings, a fake clock as the reactor, local rate-limiting counters, the node's bus.
    No store and no listeners: a plugin that needs them is tested on a real node
    (``kongtx.build_gateway``)."""

    __test__ = False  # not a pytest test class

    def __init__(self, config: Config, reactor: Clock, worker_index: int = 0) -> None:
        self.reactor = reactor
        self.config = config
        self.dao: Any = None
        self.counters = CounterPolicies(reactor, LocalCounters(reactor))
        self.bus = NodeBus()
        self.worker_index = worker_index
        self.node_id = "00000000-0000-4000-8000-000000000000"


def make_node(
    settings: Mapping[str, str] | None = None, clock: Clock | None = None, worker_index: int = 0
) -> TestNode:
    """A :class:`TestNode` with ``settings`` (kong.conf names and values as written,
    e.g. ``{"trusted_ips": "10.0.0.0/8"}``) over the defaults."""
    config = load_config(None, {}, dict(settings or {}), search_default_paths=False)
    return TestNode(config, clock or Clock(), worker_index)


def make_context(
    method: str = "GET",
    target: str = "/",
    headers: Iterable[tuple[str, str]] = (),
    body: bytes | Body | None = None,
    *,
    rows: Rows | Snapshot | None = None,
    entities: Entities | None = None,
    clock: Clock | None = None,
    request: GatewayRequest | None = None,
    client_ip: str | None = None,
    route: dict[str, Any] | None = None,
    service: dict[str, Any] | None = None,
    uri_captures: dict[int | str, str | None] | None = None,
    request_id: str = "rid",
) -> ProxyContext:
    """A request context as plugins see it in ``access`` (routed when ``route`` is given).

    :param rows: the rows (``{"consumers": [...], "keyauth_credentials": [...], ...}``):
        the snapshot is built from them and ``ctx.entities`` reads them; or a ready
        :class:`Snapshot`.
    :param entities: a ready entity cache (:func:`make_entities`), to share one between
        requests (a cache hit on the second) or to count its queries.
    :param request: a ready request (else one is built from ``method`` ... ``body``).
    :param client_ip: the client address after the trusted-proxy rules.
    :param uri_captures: the route's regex captures (``ctx.match.uri_captures``).
    """
    clock = clock or Clock()
    snapshot = rows if isinstance(rows, Snapshot) else make_snapshot(rows)
    if entities is None:
        entities = make_entities(None if isinstance(rows, Snapshot) else rows, clock)
    if request is None:
        request = make_request(method, target, headers, body)
    ctx = ProxyContext(request, snapshot, clock, request_id, entities)
    if client_ip is not None:
        ctx.client_ip = client_ip
    if route is not None or service is not None or uri_captures is not None:
        ctx.route = route if route is not None else {"id": "route-id"}
        ctx.service = service
        ctx.match = Match(
            route=ctx.route,
            service=service,
            matched_path=None,
            prefix=None,
            postfix=request.path.lstrip("/"),
            uri_captures=dict(uri_captures or {}),
            matched_host=None,
            path=request.path,
        )
    return ctx


def run_hook_deferred(
    handler: PluginHandler, phase: str, ctx: ProxyContext, conf: PluginConfig
) -> Deferred[ProxyExit | None]:
    """Run one hook; the Deferred fires with the :class:`ProxyExit` it raised, or ``None``.

    Other exceptions fail the Deferred.
    """
    try:
        result = getattr(handler, phase)(ctx, conf)
    except ProxyExit as exc:
        return succeed(exc)
    except Exception as exc:
        return fail(exc)
    if result is None or not isawaitable(result):
        return succeed(None)

    def exited(failure: Failure) -> ProxyExit | Failure:
        if isinstance(failure.value, ProxyExit):
            return failure.value
        return failure

    waited: Deferred[Any] = Deferred.fromCoroutine(_awaited(result))
    return waited.addCallbacks(lambda _: None, exited)


def run_hook(
    handler: PluginHandler, phase: str, ctx: ProxyContext, conf: PluginConfig
) -> ProxyExit | None:
    """Run one hook to its end now: the :class:`ProxyExit` it raised, or ``None``.

    :raises AssertionError: the hook is still waiting (use :func:`run_hook_deferred`).
    :raises Exception: whatever else the hook raised.
    """
    outcome: ProxyExit | None = _now(run_hook_deferred(handler, phase, ctx, conf), f"{phase} hook")
    return outcome


def run_phase(
    ctx: ProxyContext,
    plugins: Iterable[tuple[PluginHandler, PluginConfig]],
    phase: str = "access",
) -> ProxyExit | None:
    """Run ``phase`` of several plugins in Kong's order, as the gateway does.

    The plugins become ``ctx.plugins`` (the ones this request runs). In
    ``rewrite``/``access`` the first exit stops the other hooks and is
    returned; in the other phases a failing hook is logged and the rest run.
    """
    loaded = PluginSet([LoadedPlugin(handler, _NO_MODULE) for handler, _ in plugins])
    confs = {id(handler): conf for handler, conf in plugins}
    ctx.plugins = [(p, {"config": confs[id(p.handler)], "protocols": _ALL}) for p in loaded.ordered]
    if phase in ("rewrite", "access"):
        for plugin, row in ctx.plugins:
            if phase in plugin.phases:
                outcome = run_hook(plugin.handler, phase, ctx, row["config"])
                if outcome is not None:
                    return outcome
        return None
    _now(ensureDeferred(phases.run_phase(ctx, phase)), f"{phase} phase")
    return None


def upstream_answer(
    ctx: ProxyContext, status: int = 200, headers: Iterable[tuple[str, str]] = ()
) -> None:
    """Give ``ctx`` the upstream's response head, as the gateway does before ``header_filter``."""
    ctx.response_status = status
    ctx.response_headers = Headers(list(headers))
    ctx.response_source = "service"
    ctx.upstream_status = str(status)


def run_response(
    handler: PluginHandler,
    ctx: ProxyContext,
    conf: PluginConfig,
    *,
    status: int = 200,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes | Iterable[bytes] = b"",
) -> bytes:
    """Answer ``ctx`` from a fake upstream and run ``header_filter`` and ``body_filter``.

    ``body`` is one chunk or several (streamed). When the plugin
    :meth:`~PluginHandler.wants_response_body`, it gets the whole body at once,
    as in the gateway. Returns the body the client receives; the status and
    headers it receives are ``ctx.response_status`` / ``ctx.response_headers``.
    """
    upstream_answer(ctx, status, headers)
    ctx.plugins = [(LoadedPlugin(handler, _NO_MODULE), {"config": conf, "protocols": _ALL})]
    _now(ensureDeferred(phases.run_phase(ctx, "header_filter")), "header_filter")
    chunks = [body] if isinstance(body, bytes) else list(body)
    filters = phases.body_filters(ctx)
    if not filters:
        return b"".join(chunks)
    if phases.wants_whole_body(ctx, filters):
        whole = phases.filter_whole_body(ctx, b"".join(chunks))
        filtered: bytes = _now(ensureDeferred(whole), "body_filter")
        return filtered
    out = [phases.filter_chunk(ctx, filters, chunk, False) for chunk in chunks]
    out.append(phases.filter_chunk(ctx, filters, b"", True))
    return b"".join(out)


def assert_exit(
    outcome: ProxyExit | None,
    status: int,
    message: str | None = None,
    *,
    body: Any = None,
) -> ProxyExit:
    """Check that a hook answered with ``status`` (and ``message`` / ``body`` when given)."""
    assert outcome is not None, f"expected a {status} exit, the request went on"
    assert outcome.status == status, f"expected a {status} exit, got {outcome.status}"
    if message is not None:
        assert outcome.message == message, f"expected {message!r}, got {outcome.message!r}"
    if body is not None:
        assert outcome.body == body, f"expected body {body!r}, got {outcome.body!r}"
    return outcome


_ALL = ("http", "https", "grpc", "grpcs", "ws", "wss")


class _NoModule:
    """Stands in for a plugin's package when a handler is run on its own."""

    __name__ = "kongtx.plugins.testing"


_NO_MODULE: Any = _NoModule()


async def _awaited(result: Awaitable[Any]) -> Any:
    return await result


def _now(waiting: Deferred[Any], what: str) -> Any:
    results: list[Optional[Any]] = []
    failures: list[Failure] = []
    waiting.addCallbacks(results.append, failures.append)
    if failures:
        failures[0].raiseException()
    assert results, f"the {what} is still waiting (use run_hook_deferred / advance the clock)"
    return results[0]
