"""``request-termination`` handler: exit with the configured response, or echo the request."""

from __future__ import annotations

import json
import os
import socket
from typing import Any
from urllib.parse import parse_qsl

from kongtx import KONG_COMPAT_VERSION
from kongtx.errors import ProxyExit
from kongtx.http.body import BodyTooLarge
from kongtx.plugins.base import PluginHandler

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


def triggered(ctx: Any, trigger: str) -> bool:
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


def _multi(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            previous = out[name]
            out[name] = previous + [value] if isinstance(previous, list) else [previous, value]
        else:
            out[name] = value
    return out


def parse_body(raw: bytes, content_type: str | None) -> Any:
    """Kong's ``kong.request.get_body`` for JSON and url-encoded bodies; ``None`` otherwise."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        if media == "application/json":
            return json.loads(raw)
        if media == "application/x-www-form-urlencoded":
            return _multi(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except (ValueError, UnicodeDecodeError):
        return None
    return None


def _host(value: str | None) -> str | None:
    if not value:
        return None
    if value.startswith("["):
        return value[: value.find("]") + 1].lower()
    return value.rsplit(":", 1)[0].lower() if value.count(":") == 1 else value.lower()


def _captures(match: Any) -> dict[str, Any]:
    captures = getattr(match, "uri_captures", None) or {}
    unnamed = [
        v for k, v in sorted((k, v) for k, v in captures.items() if isinstance(k, int) and k > 0)
    ]
    named = {k: v for k, v in captures.items() if isinstance(k, str)}
    return {"unnamed": unnamed, "named": named or []}


async def echo_exit(ctx: Any, conf: dict[str, Any]) -> ProxyExit:
    """The echo exit: the request as Kong sees it, plus the matched route and service."""
    request = ctx.request
    try:
        raw: bytes | None = await ctx.read_body(ECHO_BODY_LIMIT)
    except BodyTooLarge:
        raw = None
    headers: dict[str, Any] = {}
    for name, value in request.headers.items():
        key = name.lower()
        if key in headers:
            previous = headers[key]
            headers[key] = previous + [value] if isinstance(previous, list) else [previous, value]
        else:
            headers[key] = value
    echoed: dict[str, Any] = {
        "scheme": request.scheme,
        "host": _host(request.headers.get("host")),
        "port": request.server_port,
        "headers": headers,
        "query": _multi(ctx.query_args()),
        "method": request.method,
        "path": request.path,
        "uri_captures": _captures(ctx.match),
    }
    if raw is not None:
        echoed["raw_body"] = raw.decode("utf-8", "replace")
        body = parse_body(raw, request.headers.get("content-type"))
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


class Handler(PluginHandler):
    """Kong's ``request-termination`` plugin."""

    name = "request-termination"
    priority = 2
    version = KONG_COMPAT_VERSION

    def access(self, ctx: Any, conf: dict[str, Any]) -> Any:
        trigger = conf.get("trigger")
        if trigger is not None and not triggered(ctx, trigger):
            return None
        if conf.get("echo"):
            return self._echo(ctx, conf)
        raise plain_exit(conf)

    async def _echo(self, ctx: Any, conf: dict[str, Any]) -> None:
        raise await echo_exit(ctx, conf)
