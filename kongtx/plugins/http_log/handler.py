"""http-log: each entry as JSON to an HTTP collector, through Kong's queue (batches, retries)."""

from __future__ import annotations

from typing import Any

from kongtx.logsinks.custom_fields import CustomFields
from kongtx.logsinks.http import HTTPSender
from kongtx.logsinks.plugin import LogPluginHandler, Sink, json_line
from kongtx.logsinks.queue import BatchQueue
from kongtx.logsinks.schema import queue_conf

__all__ = ["HttpLogHandler", "batch_body"]


def batch_body(entries: list[bytes], single: bool) -> bytes:
    """The request body: the entry itself when batches hold one entry, else a JSON array."""
    if single:
        return entries[0]
    return b"[" + b",".join(entries) + b"]"


class HttpLogHandler(LogPluginHandler):
    name = "http-log"
    priority = 12
    version = "3.6.0"

    def build_sink(self, reactor: Any, conf: dict[str, Any]) -> Sink:
        qconf = queue_conf(conf)
        headers = [("Content-Type", conf["content_type"])]
        headers += list((conf.get("headers") or {}).items())
        sender = HTTPSender(
            reactor,
            conf["http_endpoint"],
            method=conf["method"],
            headers=headers,
            timeout=conf["timeout"] / 1000.0,
            keepalive=conf["keepalive"] / 1000.0,
            connections=max(qconf.concurrency_limit, 1),
        )
        single = qconf.max_batch_size == 1

        def send(batch: list[bytes]) -> Any:
            return sender.send(batch_body(batch, single))

        queue: BatchQueue[bytes] = BatchQueue(
            reactor, send, qconf, name=conf["http_endpoint"].rpartition("@")[2], plugin=self.name
        )
        return Sink(queue, lambda entry: (json_line(entry),), CustomFields(conf), sender.close)
