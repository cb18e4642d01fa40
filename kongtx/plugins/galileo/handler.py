"""galileo: ALF 1.1.0 batches (``queue_size`` entries or ``flush_timeout`` seconds) POSTed to
``/1.1.0/single`` on the collector, as Kong 0.x did.

Collector answers: 200 and 207 are taken; 4xx drops the ALF (logged); 5xx and
connection failures retry it, ``retry_count`` times at most, waiting 1 s
doubling to 60 s. The ALFs waiting are bounded by the sink's queue.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.logger import Logger

from kongtx.logsinks.bodies import capture_request, capture_response, captured
from kongtx.logsinks.http import CollectorError, HTTPSender
from kongtx.logsinks.plugin import LogPluginHandler, Sink, json_line
from kongtx.logsinks.queue import BatchQueue, QueueConf
from kongtx.plugins.base import PluginConfig, ProxyContext
from kongtx.plugins.galileo.alf import alf_body, alf_entry

__all__ = ["GalileoHandler"]

log = Logger()

_KEY = "galileo"


def _server_addr() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


class GalileoHandler(LogPluginHandler):
    name = "galileo"
    priority = 3
    version = "0.10.0"

    def __init__(self) -> None:
        super().__init__()
        self.server_addr = _server_addr()

    async def access(self, ctx: ProxyContext, conf: PluginConfig) -> None:
        if conf.get("log_bodies"):
            await capture_request(ctx, _KEY)

    def body_filter(self, ctx: ProxyContext, conf: PluginConfig, chunk: bytes, eof: bool) -> None:
        if conf.get("log_bodies"):
            capture_response(ctx, _KEY, chunk)

    def entry(self, ctx: ProxyContext, conf: PluginConfig) -> dict[str, Any]:
        request_body, response_body = captured(ctx, _KEY)
        return alf_entry(
            ctx, self.server_addr, bool(conf.get("log_bodies")), request_body, response_body
        )

    def build_sink(self, reactor: Any, conf: dict[str, Any]) -> Sink:
        scheme = "https" if conf.get("https") else "http"
        url = f"{scheme}://{conf['host']}:{conf['port']}/1.1.0/single"
        sender = HTTPSender(
            reactor,
            url,
            headers=[("Content-Type", "application/json")],
            timeout=float(conf.get("connection_timeout") or 30),
            verify=bool(conf.get("https_verify")),
        )
        token, environment = conf["service_token"], conf.get("environment")

        def send(batch: list[bytes]) -> Any:
            return sender.exchange(alf_body(batch, token, environment)).addCallback(_answered)

        queue_conf = QueueConf(
            max_batch_size=int(conf.get("queue_size") or 1000),
            max_coalescing_delay=float(conf.get("flush_timeout") or 2),
            max_entries=max(10000, int(conf.get("queue_size") or 1000) * 10),
            initial_retry_delay=1.0,
            max_retry_delay=60.0,
            max_retry_time=3600.0,
            max_retries=int(conf.get("retry_count") or 0),
        )
        queue: BatchQueue[bytes] = BatchQueue(reactor, send, queue_conf, name=url, plugin=self.name)
        return Sink(queue, lambda entry: (json_line(entry),), None, sender.close)


def _answered(answer: tuple[int, bytes]) -> None:
    status, body = answer
    if status in (200, 207):
        return
    if 400 <= status < 500:
        log.warn(
            "[galileo] Galileo collector refused this ALF ({status}): {body}",
            status=status,
            body=body[:200].decode("utf-8", "replace"),
        )
        return
    raise CollectorError(f"Galileo collector HTTP error ({status})")
