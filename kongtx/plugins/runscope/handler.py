"""runscope: one JSON message per request POSTed to ``<api_endpoint>/buckets/<bucket_key>/messages``
with ``Authorization: Bearer <access_token>``, as Kong 0.x's runscope plugin (no retry).

The message is Kong 0.x's runscope serializer: ``request`` (``url`` =
scheme://host:port + request URI, ``method``, ``headers``, ``body``,
``timestamp`` = start in seconds, ``form`` = url-encoded body arguments) and
``response`` (``status``, ``headers``, ``size_bytes`` = body bytes as a
string, ``body``, ``timestamp`` = now, ``response_time`` in seconds). Bodies
are empty strings unless ``log_body``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kongtx.logsinks.bodies import capture_request, capture_response, captured
from kongtx.logsinks.http import HTTPSender
from kongtx.logsinks.plugin import LogPluginHandler, Sink, json_line
from kongtx.logsinks.queue import BatchQueue, QueueConf
from kongtx.logsinks.serializer import headers_table, querystring_table
from kongtx.plugins.base import PluginConfig, ProxyContext

if TYPE_CHECKING:
    from kongtx.proxy.context import ProxyContext

__all__ = ["RunscopeHandler", "runscope_message"]

_KEY = "runscope"


def _form(ctx: ProxyContext, body: bytes | None) -> dict[str, Any]:
    """ngx's decoded body arguments of a url-encoded body (``{}`` for other bodies)."""
    content_type = (ctx.request.headers.get("content-type") or "").lower()
    if body is None or "application/x-www-form-urlencoded" not in content_type:
        return {}
    return querystring_table(body.decode("utf-8", "replace"))


def runscope_message(ctx: ProxyContext, now: float, log_body: bool) -> dict[str, Any]:
    """Kong 0.x's runscope serializer for a finished request."""
    request = ctx.request
    request_body, response_body = captured(ctx, _KEY)
    host = (request.headers.get("host") or "").partition(":")[0]
    return {
        "request": {
            "url": f"{request.scheme}://{host}:{ctx.server_port}{request.target}",
            "method": request.method,
            "headers": headers_table(request.headers),
            "body": (request_body or b"").decode("utf-8", "replace") if log_body else "",
            "timestamp": ctx.started_at,
            "form": _form(ctx, request_body) if log_body else {},
        },
        "response": {
            "status": ctx.response_status,
            "headers": headers_table(ctx.response_headers),
            "size_bytes": str(ctx.response_size),
            "body": (response_body or b"").decode("utf-8", "replace") if log_body else "",
            "timestamp": now,
            "response_time": now - ctx.started_at,
        },
    }


class RunscopeHandler(LogPluginHandler):
    name = "runscope"
    priority = 1
    version = "0.10.0"

    async def access(self, ctx: ProxyContext, conf: PluginConfig) -> None:
        if conf.get("log_body"):
            await capture_request(ctx, _KEY)

    def body_filter(self, ctx: ProxyContext, conf: PluginConfig, chunk: bytes, eof: bool) -> None:
        if conf.get("log_body"):
            capture_response(ctx, _KEY, chunk)

    def entry(self, ctx: ProxyContext, conf: PluginConfig) -> dict[str, Any]:
        return runscope_message(ctx, ctx.clock.seconds(), bool(conf.get("log_body")))

    def build_sink(self, reactor: Any, conf: dict[str, Any]) -> Sink:
        url = f"{conf['api_endpoint'].rstrip('/')}/buckets/{conf['bucket_key']}/messages"
        sender = HTTPSender(
            reactor,
            url,
            headers=[
                ("Authorization", f"Bearer {conf['access_token']}"),
                ("Content-Type", "application/json"),
            ],
            timeout=float(conf.get("timeout") or 10000) / 1000.0,
            keepalive=float(conf.get("keepalive") or 30) / 1000.0,
            connections=10,
        )

        def send(batch: list[bytes]) -> Any:
            return sender.exchange(batch[0])

        # One message per request, sent at once and once: Kong 0.x did not retry.
        queue_conf = QueueConf(
            max_batch_size=1, max_coalescing_delay=0, max_retries=0, concurrency_limit=-1
        )
        queue: BatchQueue[bytes] = BatchQueue(reactor, send, queue_conf, name=url, plugin=self.name)
        return Sink(queue, lambda entry: (json_line(entry),), None, sender.close)
