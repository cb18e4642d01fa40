"""``proxy-cache`` (Kong's ``kong/plugins/proxy-cache/handler.lua``, priority 100), memory strategy.

``access`` computes the request's cache key (:mod:`.cache_key`); a fresh
entry is answered at once (``X-Cache-Status: Hit``, ``Age``), anything else
goes upstream marked ``Miss``, ``Refresh`` (a stale entry, or one the
client's Cache-Control refuses) or ``Bypass`` (not a cacheable request).
``header_filter`` decides whether the response may be cached (status,
content type, Cache-Control when ``cache_control`` is on) and
``body_filter`` collects the streamed body and stores it at its end. A hit
costs a dict lookup: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kongtx import KONG_COMPAT_VERSION
from kongtx.errors import ProxyExit
from kongtx.plugins.base import PluginHandler, PluginNode, ProxyContext
from kongtx.plugins.proxy_cache import api
from kongtx.plugins.proxy_cache.cache_key import build_cache_key
from kongtx.plugins.proxy_cache.policy import (
    cacheable_request,
    cacheable_response,
    parse_directives,
    resource_ttl,
)
from kongtx.plugins.proxy_cache.store import CACHE_VERSION, CachedResponse, MemoryStore

__all__ = ["CachePlan", "ProxyCacheHandler"]

_STATE = "proxy-cache:state"
PURGE_TOPIC = "proxy-cache:purge"
DEFAULT_MEMORY = 128 * 1024 * 1024  # Kong's mem_cache_size default

# Not replayed from the cache: hop-by-hop, framing, per-request values, our own.
_NOT_STORED = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "age",
        "x-cache-status",
        "x-cache-key",
        "x-kong-upstream-latency",
        "x-kong-proxy-latency",
        "x-kong-response-latency",
        "x-kong-request-id",
    )
)


@dataclass(frozen=True)
class CachePlan:
    """A ``proxy-cache`` config digested once."""

    methods: frozenset[str]
    codes: frozenset[int]
    content_types: list[str]
    cache_ttl: float
    cache_control: bool
    ignore_uri_case: bool
    storage_ttl: float | None
    dictionary: str
    vary_query_params: list[str]
    vary_headers: list[str]
    show_age: bool
    show_status: bool
    show_key: bool


def digest(conf: dict[str, Any]) -> CachePlan:
    """Digest a ``proxy-cache`` config."""
    shown = conf.get("response_headers") or {}
    return CachePlan(
        methods=frozenset(conf.get("request_method") or ("GET", "HEAD")),
        codes=frozenset(conf.get("response_code") or (200, 301, 404)),
        content_types=list(conf.get("content_type") or ()),
        cache_ttl=float(conf.get("cache_ttl") or 300),
        cache_control=bool(conf.get("cache_control")),
        ignore_uri_case=bool(conf.get("ignore_uri_case")),
        storage_ttl=float(conf["storage_ttl"]) if conf.get("storage_ttl") else None,
        dictionary=(conf.get("memory") or {}).get("dictionary_name") or "kong_db_cache",
        vary_query_params=list(conf.get("vary_query_params") or ()),
        vary_headers=list(conf.get("vary_headers") or ()),
        show_age=bool(shown.get("age", True)),
        show_status=bool(shown.get("X-Cache-Status", True)),
        show_key=bool(shown.get("X-Cache-Key", True)),
    )


@dataclass
class _State:
    """This request's cache decision, from access to the end of the body."""

    status: str
    key: str | None = None
    collect: bool = False
    ttl: float = 0.0
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    debug: bool = False


class ProxyCacheHandler(PluginHandler):
    """The ``proxy-cache`` plugin."""

    name = "proxy-cache"
    priority = 100
    version = KONG_COMPAT_VERSION

    def __init__(self) -> None:
        self.max_bytes = DEFAULT_MEMORY
        self.stores: dict[str, MemoryStore] = {}
        self._clock: Any = None
        self._bus: Any = None

    def init_worker(self, node: PluginNode) -> None:
        """Size the stores by ``mem_cache_size``; follow purges made in worker 0."""
        self._clock = node.reactor
        self.max_bytes = node.config.mem_cache_size or DEFAULT_MEMORY
        self._bus = node.bus
        node.bus.subscribe(PURGE_TOPIC, self._purged_elsewhere)

    def broadcast_purge(self, key: str | None) -> None:
        """Tell the node's other workers to drop ``key`` (``None``: everything)."""
        if self._bus is not None:
            self._bus.publish(PURGE_TOPIC, key)

    def _purged_elsewhere(self, key: str | None) -> None:
        for store in self.stores.values():
            if key is None:
                store.flush()
            else:
                store.purge(key)

    def compile(self, conf: dict[str, Any], plugin: Mapping[str, Any] | None = None) -> Any:
        """Digest one configuration (once, in the snapshot)."""
        return digest(conf)

    def store(self, dictionary: str, clock: Any = None) -> MemoryStore:
        """The store of a ``memory.dictionary_name``."""
        found = self.stores.get(dictionary)
        if found is None:
            clock = clock or self._clock
            found = self.stores[dictionary] = MemoryStore(clock, self.max_bytes)
        return found

    def admin_routes(self, admin: Any, router: Any) -> None:
        """Kong's ``/proxy-cache`` Admin API endpoints."""
        api.install(self, admin, router)

    # -- access ------------------------------------------------------------------
    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> None:
        """Answer from the cache, or mark the request Miss/Refresh/Bypass."""
        plan = self.compiled(conf)
        request = ctx.request
        headers = request.headers
        debug = "kong-debug" in headers
        directives = parse_directives(headers.get_all("cache-control"))
        if not cacheable_request(
            request.method,
            plan.methods,
            plan.cache_control,
            directives,
            "authorization" in headers,
        ):
            ctx.shared[_STATE] = _State("Bypass", debug=debug)
            return
        path = ctx.path.lower() if plan.ignore_uri_case else ctx.path
        key = build_cache_key(
            ctx.consumer_id,
            ctx.route.get("id") if ctx.route else None,
            request.method,
            path,
            ctx.query_args(),
            list(headers.items()) if plan.vary_headers else [],
            plan.vary_query_params,
            plan.vary_headers,
        )
        store = self.store(plan.dictionary, ctx.clock)
        cached = store.fetch(key)
        if cached is None:
            if plan.cache_control and directives.get("only-if-cached"):
                raise ProxyExit(504, body=b"")
            ctx.shared[_STATE] = _State("Miss", key, collect=True, debug=debug)
            return
        if cached.version != CACHE_VERSION:
            store.purge(key)
            ctx.shared[_STATE] = _State("Bypass", key, collect=True, debug=debug)
            return
        now = ctx.clock.seconds()
        if _stale(plan, directives, cached, now):
            ctx.shared[_STATE] = _State("Refresh", key, collect=True, debug=debug)
            return
        out = [(n, v) for n, v in cached.headers if "ratelimit-remaining" not in n.lower()]
        if plan.show_age or debug:
            out.append(("Age", str(int(now - cached.timestamp))))
        if plan.show_status or debug:
            out.append(("X-Cache-Status", "Hit"))
        if plan.show_key or debug:
            out.append(("X-Cache-Key", key))
        raise ProxyExit(cached.status, body=cached.body, headers=out)

    # -- response ----------------------------------------------------------------
    def header_filter(self, ctx: ProxyContext, conf: dict[str, Any]) -> None:
        """Decide whether this response is stored; add X-Cache-Status / X-Cache-Key."""
        state: _State | None = ctx.shared.get(_STATE)
        headers = ctx.response_headers
        if state is None or headers is None:
            return
        plan = self.compiled(conf)
        if state.collect:
            directives = parse_directives(headers.get_all("cache-control"))
            ttl = (
                resource_ttl(directives, headers.get("expires"), ctx.clock.seconds())
                if plan.cache_control
                else plan.cache_ttl
            )
            if cacheable_response(
                ctx.response_status,
                plan.codes,
                headers.get("content-type"),
                plan.content_types,
                plan.cache_control,
                directives,
                ttl,
            ):
                state.ttl = ttl
                state.headers = [(n, v) for n, v in headers.items() if n.lower() not in _NOT_STORED]
            else:
                state.status = "Bypass"
                state.collect = False
        if plan.show_status or state.debug:
            headers.set("X-Cache-Status", state.status)
        if state.key is not None and (plan.show_key or state.debug):
            headers.set("X-Cache-Key", state.key)

    def body_filter(self, ctx: ProxyContext, conf: dict[str, Any], chunk: bytes, eof: bool) -> None:
        """Collect a cacheable body; store it once complete."""
        state: _State | None = ctx.shared.get(_STATE)
        if state is None or not state.collect:
            return None
        plan = self.compiled(conf)
        store = self.store(plan.dictionary, ctx.clock)
        if chunk:
            state.size += len(chunk)
            if state.size > store.max_bytes:
                state.collect = False  # can never fit: stop holding it
                state.chunks = []
                return None
            state.chunks.append(chunk)
        if eof:
            state.collect = False
            now = ctx.clock.seconds()
            entry = CachedResponse(
                ctx.response_status, state.headers, b"".join(state.chunks), now, state.ttl
            )
            store.store(state.key or "", entry, plan.storage_ttl or state.ttl)
            state.chunks = []
        return None


def _stale(plan: CachePlan, directives: dict[str, Any], cached: CachedResponse, now: float) -> bool:
    """Kong: with ``cache_control`` the client's max-age/max-stale/min-fresh decide,
    otherwise an entry older than ``cache_ttl`` (it may be stored longer: storage_ttl)."""
    age = now - cached.timestamp
    if not plan.cache_control:
        return age > plan.cache_ttl
    max_age = directives.get("max-age")
    if isinstance(max_age, (int, float)) and not isinstance(max_age, bool) and age > max_age:
        return True
    max_stale = directives.get("max-stale")
    if (
        isinstance(max_stale, (int, float))
        and not isinstance(max_stale, bool)
        and age - cached.ttl > max_stale
    ):
        return True
    min_fresh = directives.get("min-fresh")
    return (
        isinstance(min_fresh, (int, float))
        and not isinstance(min_fresh, bool)
        and cached.ttl - age < min_fresh
    )
