"""file-log: each entry as a JSON line appended to a file (written off the reactor thread)."""

from __future__ import annotations

from typing import Any

from kongtx.logsinks.file import FileWriter, in_thread_pool
from kongtx.logsinks.plugin import LogPluginHandler, Sink, json_line

__all__ = ["FileLogHandler"]


class FileLogHandler(LogPluginHandler):
    name = "file-log"
    priority = 9
    version = "3.6.0"

    #: Runs the file writes; tests replace it to write synchronously.
    run_blocking = staticmethod(in_thread_pool)

    def build_sink(self, reactor: Any, conf: dict[str, Any]) -> Sink:
        writer = FileWriter(conf["path"], self.run_blocking(reactor), conf["reopen"])
        return self.transport_sink(
            reactor, conf, writer, lambda entry: (json_line(entry) + b"\n",), name=conf["path"]
        )
