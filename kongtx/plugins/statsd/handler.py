"""statsd: Kong's metrics for each request, over UDP (packed up to ``udp_packet_size``) or TCP."""

from __future__ import annotations

import socket
from typing import Any

from kongtx.logsinks.plugin import LogPluginHandler, Sink
from kongtx.logsinks.queue import BatchQueue
from kongtx.logsinks.schema import queue_conf
from kongtx.logsinks.statsd_lines import pack
from kongtx.logsinks.tcp import StreamSender, client_endpoint
from kongtx.logsinks.udp import DatagramSender
from kongtx.plugins.base import PluginConfig, ProxyContext
from kongtx.plugins.statsd.metrics import allowed_status, metric_lines

__all__ = ["StatsdHandler"]


class StatsdHandler(LogPluginHandler):
    name = "statsd"
    priority = 11
    version = "3.6.0"

    def log(self, ctx: ProxyContext, conf: PluginConfig) -> None:
        if allowed_status(conf.get("allow_status_codes"), ctx.response_status):
            super().log(ctx, conf)

    def build_sink(self, reactor: Any, conf: dict[str, Any]) -> Sink:
        hostname = socket.gethostname().replace(".", "_")
        host, port = conf["host"], conf["port"]
        if conf.get("use_tcp"):
            endpoint = client_endpoint(reactor, host, port, 1.0)
            stream = StreamSender(reactor, endpoint, timeout=1.0, keepalive=60.0)

            def send(batch: list[bytes]) -> Any:
                return stream.send([line + b"\n" for item in batch for line in item.split(b"\n")])

            close: Any = stream.close
        else:
            datagrams = DatagramSender(reactor, host, port)
            size = int(conf.get("udp_packet_size") or 0)

            def send(batch: list[bytes]) -> Any:
                return datagrams.send(
                    pack((line for item in batch for line in item.split(b"\n")), size)
                )

            close = datagrams.close

        def encode(entry: dict[str, Any]) -> tuple[bytes, ...]:
            lines = metric_lines(entry, conf, hostname)
            return ("\n".join(lines).encode(),) if lines else ()

        queue: BatchQueue[bytes] = BatchQueue(
            reactor, send, queue_conf(conf), name=f"{host}:{port}", plugin=self.name
        )
        return Sink(queue, encode, None, close)
