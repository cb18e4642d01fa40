"""tcp-log: each entry as a JSON line over a kept-alive TCP (or TLS) connection."""

from __future__ import annotations

from typing import Any

from kongtx.logsinks.plugin import LogPluginHandler, Sink, json_line
from kongtx.logsinks.tcp import StreamSender, client_endpoint

__all__ = ["TcpLogHandler"]


class TcpLogHandler(LogPluginHandler):
    name = "tcp-log"
    priority = 7
    version = "3.6.0"

    def build_sink(self, reactor: Any, conf: dict[str, Any]) -> Sink:
        timeout = conf["timeout"] / 1000.0
        endpoint = client_endpoint(
            reactor, conf["host"], conf["port"], timeout, conf["tls"], conf.get("tls_sni")
        )
        sender = StreamSender(reactor, endpoint, timeout, conf["keepalive"] / 1000.0)
        return self.transport_sink(reactor, conf, sender, lambda entry: (json_line(entry) + b"\n",))
