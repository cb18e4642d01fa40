"""udp-log: each entry as one JSON datagram."""

from __future__ import annotations

from typing import Any

from kongtx.logsinks.custom_fields import CustomFields
from kongtx.logsinks.plugin import LogPluginHandler, Sink, json_line
from kongtx.logsinks.queue import BatchQueue
from kongtx.logsinks.transport_queue import TRANSPORT_QUEUE
from kongtx.logsinks.udp import DatagramSender

__all__ = ["UdpLogHandler"]


class UdpLogHandler(LogPluginHandler):
    name = "udp-log"
    priority = 8
    version = "3.6.0"

    def build_sink(self, reactor: Any, conf: dict[str, Any]) -> Sink:
        sender = DatagramSender(reactor, conf["host"], conf["port"])
        queue: BatchQueue[bytes] = BatchQueue(
            reactor,
            sender.send,
            TRANSPORT_QUEUE,
            name=f"{conf['host']}:{conf['port']}",
            plugin=self.name,
        )
        return Sink(queue, lambda entry: (json_line(entry),), CustomFields(conf), sender.close)
