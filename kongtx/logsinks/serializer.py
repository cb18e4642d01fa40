"""Kong's log serializer (``kong.log.serialize()``, ``kong/pdk/log.lua``), sans-IO.

:func:`serialize` turns a finished request's :class:`~kongtx.proxy.context.ProxyContext`
into the entry every log plugin sends: ``request``, ``upstream_uri``,
``upstream_status``, ``response``, ``latencies``, ``tries``,
``authenticated_entity``, ``route``, ``service``, ``consumer``, ``client_ip``,
``started_at`` and ``source``. As Kong 3.x, the values of ``Authorization`` and
``Proxy-Authorization`` are replaced by ``"REDACTED"``; keys that do not apply
(no route, no consumer...) are absent, not null.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from kongtx.http.request_body import group_repeated

if TYPE_CHECKING:
    from kongtx.http.headers import Headers
    from kongtx.proxy.context import ProxyContext

__all__ = [
    "DEFAULT_WORKSPACE_ID",
    "DEFAULT_WORKSPACE_NAME",
    "REDACTED_HEADERS",
    "headers_table",
    "latencies",
    "querystring_table",
    "request_size",
    "response_size",
    "serialize",
]

#: kongtx has one workspace, Kong's ``default``; its id is fixed so every node logs the same.
DEFAULT_WORKSPACE_NAME = "default"
DEFAULT_WORKSPACE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "kongtx:workspaces:default"))

#: Request headers whose values Kong 3.x never logs.
REDACTED_HEADERS = frozenset(("authorization", "proxy-authorization"))


def headers_table(headers: Headers | None, redact: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``kong.request.get_headers()``: lower-case names, repeated names as lists."""
    if headers is None:
        return {}
    fields = headers.entries()
    table: dict[str, Any] = {lname: value for lname, _, value in fields}
    if len(table) == len(fields) and not (redact and not redact.isdisjoint(table)):
        return table  # no repeated name, nothing to redact: the common case, in one step
    return group_repeated(
        (name, "REDACTED" if name in redact else value) for name, value in headers.lower_items()
    )


def querystring_table(query: str | None) -> dict[str, Any]:
    """``kong.request.get_query()``: ``true`` for a valueless argument, lists for repeats."""
    if not query:
        return {}
    return group_repeated(_query_pairs(query))


def _query_pairs(query: str) -> Iterator[tuple[str, Any]]:
    for part in query.split("&"):
        if part:
            name, sep, value = part.partition("=")
            yield unquote_plus(name), unquote_plus(value) if sep else True


def _header_bytes(headers: Headers | None) -> int:
    if headers is None:
        return 0
    return headers.wire_size() + 2


def request_size(ctx: ProxyContext) -> int:
    """nginx's ``$request_length``: request line, headers and body."""
    return _request_size(ctx, ctx.request.headers.get("content-length"))


def _request_size(ctx: ProxyContext, content_length: str | None) -> int:
    request = ctx.request
    line = len(request.method) + len(request.target) + len(request.version) + 9
    try:
        body_size = int(content_length) if content_length is not None else 0
    except ValueError:
        body_size = 0
    return line + _header_bytes(request.headers) + body_size


def response_size(ctx: ProxyContext) -> int:
    """nginx's ``$bytes_sent``: status line, headers and body."""
    return 17 + _header_bytes(ctx.response_headers) + ctx.response_size


def _host(ctx: ProxyContext) -> str:
    """nginx's ``$host``: the Host header without its port, lower-cased."""
    return _host_name(ctx.request.headers.get("host"))


def _host_name(host: str | None) -> str:
    """:func:`_host` of the Host header's (first) value."""
    host = host or ""
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1].lower() if end > 0 else host.lower()
    return host.partition(":")[0].lower()


def _first(table: dict[str, Any], name: str, headers: Headers) -> str | None:
    """The first value of header ``name``: from the table when it holds one value (the
    common case: no dict scan of the fields), else from the fields themselves."""
    value = table.get(name)
    if value is None or type(value) is str:
        return value
    return headers.get(name)


def latencies(ctx: ProxyContext, now: float) -> dict[str, int]:
    """``kong``, ``proxy`` (-1 when not proxied), ``request`` and ``receive`` in ms."""
    total = int((now - ctx.started_at) * 1000)
    if ctx.proxy_latency is not None:
        kong = ctx.proxy_latency
    elif ctx.response_latency is not None:
        kong = ctx.response_latency
    else:
        kong = total
    proxy = ctx.upstream_latency if ctx.upstream_latency is not None else -1
    return {"kong": kong, "proxy": proxy, "request": total, "receive": 0}


def serialize(ctx: ProxyContext, now: float | None = None) -> dict[str, Any]:
    """The log entry of a finished request, as ``kong.log.serialize()`` builds it.

    :param ctx: the request's context, after the response was sent.
    :param now: the time the response ended (default: ``ctx.clock.seconds()``).
    :returns: a JSON-ready dict (a new one each call).
    """
    if now is None:
        now = ctx.clock.seconds()
    request = ctx.request
    target = request.target
    query = request.query
    port = ctx.server_port
    headers = request.headers
    table = headers_table(headers, REDACTED_HEADERS)
    entry: dict[str, Any] = {
        "request": {
            "id": ctx.request_id,
            "uri": target,
            "url": f"{request.scheme}://{_host_name(_first(table, 'host', headers))}:{port}{target}",
            "querystring": querystring_table(query),
            "method": request.method,
            "headers": table,
            "size": _request_size(ctx, _first(table, "content-length", headers)),
        },
        "response": {
            "status": ctx.response_status,
            "headers": headers_table(ctx.response_headers),
            "size": response_size(ctx),
        },
        "latencies": latencies(ctx, now),
        "client_ip": ctx.client_ip,
        "started_at": int(ctx.started_at * 1000),
        "source": ctx.response_source,
        "workspace": DEFAULT_WORKSPACE_ID,
        "workspace_name": DEFAULT_WORKSPACE_NAME,
    }
    if request.tls_version is not None:
        entry["request"]["tls"] = {
            "version": request.tls_version,
            "client_verify": "NONE",
        }
    if ctx.upstream_started is not None:
        upstream_query = ctx.upstream_query
        path = ctx.upstream_path or request.path
        entry["upstream_uri"] = path if not upstream_query else f"{path}?{upstream_query}"
    if ctx.upstream_status is not None:
        entry["upstream_status"] = ctx.upstream_status
    if ctx.tries:
        entry["tries"] = [dict(t) for t in ctx.tries]
    credential = ctx.credential
    if credential is not None:
        entry["authenticated_entity"] = {
            "id": credential.get("id"),
            "consumer_id": ctx.consumer_id,
        }
    if ctx.route is not None:
        entry["route"] = ctx.route
    if ctx.service is not None:
        entry["service"] = ctx.service
    if ctx.consumer is not None:
        entry["consumer"] = ctx.consumer
    if ctx.log_extras:
        entry.update(ctx.log_extras)
    return entry
