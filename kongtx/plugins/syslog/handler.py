"""syslog: each entry as JSON in a syslog message (ident ``kong``), severity by status class."""

from __future__ import annotations

import os
import socket
from typing import Any

from kongtx.logsinks.plugin import LogPluginHandler, Sink, json_line
from kongtx.logsinks.severity import FACILITIES, LOG_LEVELS, severity_for, should_send
from kongtx.logsinks.syslog import UnixDatagramSender, syslog_message
from kongtx.logsinks.udp import DatagramSender

__all__ = ["SyslogHandler"]


class SyslogHandler(LogPluginHandler):
    name = "syslog"
    priority = 4
    version = "3.6.0"

    def build_sink(self, reactor: Any, conf: dict[str, Any]) -> Sink:
        facility = FACILITIES[conf["facility"]]
        remote = conf.get("host")
        sender: Any
        if remote:
            sender = DatagramSender(reactor, remote, conf["port"])
            hostname: str | None = socket.gethostname()
            where = f"{remote}:{conf['port']}"
        else:
            sender = UnixDatagramSender(reactor, conf["socket_path"])
            hostname = None
            where = conf["socket_path"]
        pid = os.getpid()

        def encode(entry: dict[str, Any]) -> tuple[bytes, ...]:
            severity = severity_for(entry["response"]["status"], conf)
            if not should_send(severity, conf["log_level"]):
                return ()
            text = json_line(entry).decode()
            message = syslog_message(
                facility, LOG_LEVELS[severity], reactor.seconds(), text, pid=pid, hostname=hostname
            )
            return (message,)

        return self.transport_sink(reactor, conf, sender, encode, name=where)
