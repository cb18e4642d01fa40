"""request-transformer (Kong priority 801): rewrite the request before it goes upstream.

Order, as Kong's ``access.lua``: ``replace.uri`` -> ``http_method`` -> headers
-> body -> querystring; within each target remove, rename, replace, add,
append. The body is buffered only when the config has body operations and the
``Content-Type`` is JSON, form-urlencoded or multipart (or when a change to
GET/HEAD/TRACE moves a form body into the query string); otherwise the hook is
synchronous and the body streams.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.internet.defer import Deferred

from kongtx import __version__
from kongtx.http.headers import Headers
from kongtx.http.request_body import group_repeated
from kongtx.plugins.base import PluginHandler, ProxyContext
from kongtx.plugins.request_transformer import bodies
from kongtx.plugins.request_transformer.plan import Ops, Plan
from kongtx.plugins.request_transformer.template import Lookup
from kongtx.plugins.transformations import append_value

__all__ = ["RequestTransformerHandler", "HeaderTable", "TemplateEnv"]

_EMPTY: dict[str, Any] = {}
_BODYLESS = frozenset(("GET", "HEAD", "TRACE"))


class HeaderTable(dict):
    """``ngx.req.get_headers()``: lower-case names; lookups ignore case and read ``_`` as ``-``."""

    def get(self, key: Any, default: Any = None) -> Any:
        if not isinstance(key, str):
            return default
        key = key.lower()
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        return dict.get(self, key.replace("_", "-"), default)

    @classmethod
    def of(cls, headers: Headers) -> HeaderTable:
        """Snapshot ``headers``; repeated names become lists."""
        return group_repeated(headers.lower_items(), into=cls())  # type: ignore[return-value]


class TemplateEnv:
    """The read-only template environment; each table is loaded on first use, then kept."""

    __slots__ = ("_loaded", "ctx")

    def __init__(self, ctx: ProxyContext) -> None:
        self.ctx = ctx
        self._loaded: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        loaded = self._loaded
        if key in loaded:
            return loaded[key]
        ctx = self.ctx
        if key == "headers":
            value: Any = HeaderTable.of(ctx.request.headers)
        elif key == "query_params":
            value = _query_table(ctx.query_args())
        elif key == "uri_captures":
            match = ctx.match
            value = (match.uri_captures if match is not None else None) or _EMPTY
        elif key == "shared":
            value = ctx.shared
        else:
            return default
        loaded[key] = value
        return value


def _query_table(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return group_repeated(pairs)


def _query_pairs(table: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for name, value in table.items():
        for item in value if isinstance(value, list) else (value,):
            if item is True:
                pairs.append((name, ""))
            elif item is not None and item is not False:
                pairs.append((name, str(item)))
    return pairs


# -- the transformations -----------------------------------------------------------
def transform_headers(ops: Ops, headers: Headers, env: Lookup) -> None:
    """Apply the header operations in place (templates see the headers as they were before)."""
    rename = ops.render_rename(env)
    replace = ops.render("replace", env)
    add = ops.render("add", env)
    append = ops.render("append", env)
    for name in ops.remove:
        if name.lower() != "host":
            headers.remove(name)
    for old, new in rename:
        if old.lower() == "host":
            continue
        values = headers.get_all(old)
        if values:
            headers.remove(new)
            for value in values:
                headers.add(new, value)
            headers.remove(old)
    for name, value in replace:
        if name.lower() == "host" or name in headers:
            headers.set(name, value)
    for name, value in add:
        if name.lower() != "host" and name not in headers:
            headers.set(name, value)
    for name, value in append:
        if name.lower() == "host":
            headers.set(name, value)
        else:
            headers.add(name, value)


def transform_querystring(ops: Ops, ctx: ProxyContext, env: TemplateEnv) -> None:
    """Apply the querystring operations to the upstream query string."""
    table = dict(env.get("query_params"))
    for name, value in table.items():
        if isinstance(value, list):
            table[name] = list(value)
    for name in ops.remove:
        table.pop(name, None)
    for old, new in ops.render_rename(env):
        value = table.get(old)
        if value is None:
            table.pop(new, None)
        else:
            table[new] = value
        table.pop(old, None)
    for name, value in ops.render("replace", env):
        if table.get(name) is not None:
            table[name] = value
    for name, value in ops.render("add", env):
        if table.get(name) is None:
            table[name] = value
    for name, value in ops.render("append", env):
        table[name] = append_value(table.get(name), value)
    ctx.set_query_args(_query_pairs(table))


def transform_body(
    ops: Ops, body: bytes, kind: str, content_type: str, env: Lookup
) -> bytes | None:
    """The new body, or ``None`` to leave it untouched."""
    if kind == bodies.JSON:
        return bodies.transform_json(ops, body, env)
    if kind == bodies.ENCODED:
        return bodies.transform_urlencoded(ops, body, env)
    return bodies.transform_multipart(ops, body, env, content_type)


def move_form_to_query(ctx: ProxyContext, body: bytes) -> None:
    """A change to GET/HEAD/TRACE: form body arguments are added to the query string."""
    params = bodies.decode_args(body)
    if not params:
        return
    table = group_repeated(params.items(), into=_query_table(ctx.query_args()))
    ctx.set_query_args(_query_pairs(table))


class RequestTransformerHandler(PluginHandler):
    """Kong's request-transformer."""

    name = "request-transformer"
    priority = 801
    version = __version__

    def compile(self, conf: dict[str, Any], plugin: Mapping[str, Any] | None = None) -> Any:
        """Digest one configuration (once, in the snapshot); an invalid template fails at
        request time (500), as in Kong."""
        return Plan(conf)

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> Deferred[None] | None:
        """Transform the upstream request; returns a Deferred only when the body must be read."""
        plan = self.compiled(conf)
        env = TemplateEnv(ctx)
        if plan.uri is not None:
            path = plan.uri.render(env)
            if not path.startswith("/"):
                raise ValueError(
                    f"request-transformer: replace.uri must render to a path, got {path!r}"
                )
            ctx.set_upstream_path(path)
        request = ctx.request
        if plan.http_method is not None:
            request.method = plan.http_method
            if (
                plan.http_method in _BODYLESS
                and bodies.body_kind(request.headers.get("content-type")) == bodies.ENCODED
            ):
                return Deferred.fromCoroutine(self._after_method_read(ctx, plan, env))
        return self._rest(ctx, plan, env)

    async def _after_method_read(self, ctx: ProxyContext, plan: Plan, env: TemplateEnv) -> None:
        move_form_to_query(ctx, await ctx.read_body())
        pending = self._rest(ctx, plan, env)
        if pending is not None:
            await pending

    def _rest(self, ctx: ProxyContext, plan: Plan, env: TemplateEnv) -> Deferred[None] | None:
        if plan.headers.any:
            transform_headers(plan.headers, ctx.request.headers, env)
        if plan.body.any:
            content_type = ctx.request.headers.get("content-type")
            kind = bodies.body_kind(content_type)
            if kind is not None:
                assert content_type is not None
                return Deferred.fromCoroutine(
                    self._body_then_query(ctx, plan, env, kind, content_type)
                )
        if plan.querystring.any:
            transform_querystring(plan.querystring, ctx, env)
        return None

    async def _body_then_query(
        self, ctx: ProxyContext, plan: Plan, env: TemplateEnv, kind: str, content_type: str
    ) -> None:
        body = await ctx.read_body()
        new_body = transform_body(plan.body, body, kind, content_type, env)
        if new_body is not None:
            ctx.set_body(new_body)
        if plan.querystring.any:
            transform_querystring(plan.querystring, ctx, env)
