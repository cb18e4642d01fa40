"""loggly: each entry as an RFC 5424-style UDP line with the customer key and tags."""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from typing import Any

from kongtx.logsinks.plugin import LogPluginHandler, Sink, json_line
from kongtx.logsinks.severity import LOG_LEVELS, severity_for, should_send
from kongtx.logsinks.udp import DatagramSender

__all__ = ["LogglyHandler", "loggly_line"]


def loggly_line(
    severity: str, when: float, hostname: str, key: str, tags: Sequence[str], body: bytes
) -> bytes:
    """``<PRI>1 <UTC time> <hostname> kong - - [<key>@41058 tag="a" ...] <json>``, Kong's
    fields joined by single spaces (so a space precedes ``]``); PRI = 8 + severity."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    fields = [
        f"<{8 + LOG_LEVELS[severity]}>1",
        stamp,
        hostname,
        "kong",
        "-",
        "-",
        f"[{key}@41058",
        " ".join(f'tag="{tag}"' for tag in tags),
        "]",
    ]
    return " ".join(fields).encode() + b" " + body


class LogglyHandler(LogPluginHandler):
    name = "loggly"
    priority = 6
    version = "3.6.0"

    def build_sink(self, reactor: Any, conf: dict[str, Any]) -> Sink:
        sender = DatagramSender(reactor, conf["host"], conf["port"])
        hostname = socket.gethostname()
        levels = {
            name: conf.get(name) or "info"
            for name in (
                "log_level",
                "successful_severity",
                "client_errors_severity",
                "server_errors_severity",
            )
        }
        tags = list(conf.get("tags") or ())

        def encode(entry: dict[str, Any]) -> tuple[bytes, ...]:
            severity = severity_for(entry["response"]["status"], levels)
            if not should_send(severity, levels["log_level"]):
                return ()
            return (
                loggly_line(
                    severity, reactor.seconds(), hostname, conf["key"], tags, json_line(entry)
                ),
            )

        return self.transport_sink(reactor, conf, sender, encode)
