"""file-log: each entry as a JSON line appended to a file (written off the reactor thread)."""

from __future__ import annotations

from typing import Any

from kongtx.logsinks.custom_fields import CustomFields
from kongtx.logsinks.file import FileWriter, in_thread_pool
from kongtx.logsinks.plugin import LogPluginHandler, Sink, json_line
from kongtx.logsinks.queue import BatchQueue
from kongtx.logsinks.transport_queue import TRANSPORT_QUEUE

__all__ = ["FileLogHandler"]


class FileLogHandler(LogPluginHandler):
    name = "file-log"
    priority = 9
    version = "3.6.0"

    #: Runs the file writes; tests replace it to write synchronously.
    run_blocking = staticmethod(in_thread_pool)

    def build_sink(self, reactor: Any, conf: dict[str, Any]) -> Sink:
        writer = FileWriter(conf["path"], self.run_blocking(reactor), conf["reopen"])
        queue: BatchQueue[bytes] = BatchQueue(
            reactor, writer.send, TRANSPORT_QUEUE, name=conf["path"], plugin=self.name
        )
        return Sink(
            queue, lambda entry: (json_line(entry) + b"\n",), CustomFields(conf), writer.close
        )
