"""``request-termination`` handler: exit with the configured response, or echo the request."""

from __future__ import annotations

import os
import socket
from typing import Any

from kongtx import KONG_COMPAT_VERSION
from kongtx.errors import ProxyExit
from kongtx.http.body import BodyTooLarge
from kongtx.http.request_body import get_body, group_repeated
from kongtx.plugins.base import PluginHandler, ProxyContext
from kongtx.router import split_host_port

#: Kong's default messages per status; other statuses without a message get no body.
DEFAULT_MESSAGES = {
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    500: "An unexpected error occurred",
    502: "Bad Gateway",
    503: "Service unavailable",
}

#: Bodies above this are not echoed (Kong: a body spooled to disk has no raw body).
ECHO_BODY_LIMIT = 1 << 20

_HOSTNAME = socket.gethostname()


def triggered(ctx: ProxyContext, trigger: str) -> bool:
    """Whether a request header or a query argument named ``trigger`` is present."""
    if trigger in ctx.request.headers:
        return True
    return any(name == trigger for name, _ in ctx.query_args())


def plain_exit(conf: dict[str, Any]) -> ProxyExit:
    """The exit for a non-echo config: the body as given, else ``{"message": ...}``, else nothing."""
    status = conf["status_code"]
    body = conf.get("body")
    if body is not None:
        return ProxyExit(status, body=body, content_type=conf.get("content_type"))
    message = conf.get("message") or DEFAULT_MESSAGES.get(status)
    if message is None:
        return ProxyExit(status, body=b"")
    return ProxyExit(status, body={"message": message})


def _host(value: str | None) -> str | None:
    return split_host_port(value)[0].lower() if value else None


def _captures(match: Any) -> dict[str, Any]:
    captures = getattr(match, "uri_captures", None) or {}
    unnamed = [
        v for k, v in sorted((k, v) for k, v in captures.items() if isinstance(k, int) and k > 0)
    ]
    named = {k: v for k, v in captures.items() if isinstance(k, str)}
    return {"unnamed": unnamed, "named": named or []}


async def echo_exit(ctx: ProxyContext, conf: dict[str, Any]) -> ProxyExit:
    """The echo exit: the request as Kong sees it, plus the matched route and service."""
    request = ctx.request
    try:
        raw: bytes | None = await ctx.read_body(ECHO_BODY_LIMIT)
    except BodyTooLarge:
        raw = None
    headers = group_repeated((name.lower(), value) for name, value in request.headers.items())
    echoed: dict[str, Any] = {
        "scheme": request.scheme,
        "host": _host(request.headers.get("host")),
        "port": request.server_port,
        "headers": headers,
        "query": group_repeated(ctx.query_args()),
        "method": request.method,
        "path": request.path,
        "uri_captures": _captures(ctx.match),
    }
    if raw is not None:
        echoed["raw_body"] = raw.decode("utf-8", "replace")
        body = get_body(request.headers.get("content-type"), raw)
        if body is not None:
            echoed["body"] = body
    content: dict[str, Any] = {
        "kong": {
            "node_id": getattr(ctx, "node_id", None),
            "worker_pid": os.getpid(),
            "hostname": _HOSTNAME,
        },
        "request": echoed,
        "matched_route": ctx.route,
        "matched_service": ctx.service,
    }
    message = conf.get("message") or DEFAULT_MESSAGES.get(conf["status_code"])
    if message is not None:
        content["message"] = message
    return ProxyExit(conf["status_code"], body=content)


class RequestTerminationHandler(PluginHandler):
    """Kong's ``request-termination`` plugin."""

    name = "request-termination"
    priority = 2
    version = KONG_COMPAT_VERSION

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> Any:
        trigger = conf.get("trigger")
        if trigger is not None and not triggered(ctx, trigger):
            return None
        if conf.get("echo"):
            return self._echo(ctx, conf)
        raise plain_exit(conf)

    async def _echo(self, ctx: ProxyContext, conf: dict[str, Any]) -> None:
        raise await echo_exit(ctx, conf)
