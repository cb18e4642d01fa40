"""udp-log: each entry as one JSON datagram."""

from __future__ import annotations

from typing import Any

from kongtx.logsinks.plugin import LogPluginHandler, Sink, json_line
from kongtx.logsinks.udp import DatagramSender

__all__ = ["UdpLogHandler"]


class UdpLogHandler(LogPluginHandler):
    name = "udp-log"
    priority = 8
    version = "3.6.0"

    def build_sink(self, reactor: Any, conf: dict[str, Any]) -> Sink:
        sender = DatagramSender(reactor, conf["host"], conf["port"])
        return self.transport_sink(reactor, conf, sender, lambda entry: (json_line(entry),))
