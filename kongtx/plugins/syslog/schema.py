"""syslog config (Kong 3.x ``kong/plugins/syslog/schema.lua``) plus kongtx's destination fields.

kongtx extensions: ``socket_path`` (the local syslog socket, default
``/dev/log``) and ``host``/``port`` (send over UDP instead, RFC 3164 with the
hostname).
"""

from __future__ import annotations

from kongtx.logsinks.schema import custom_fields_fields
from kongtx.logsinks.severity import FACILITIES
from kongtx.logsinks.severity_schema import severity_fields
from kongtx.schema import Record, String
from kongtx.schema.typedefs import host, port

__all__ = ["CONFIG"]

CONFIG = Record(
    [
        *severity_fields(),
        (
            "facility",
            String(
                required=True,
                default="user",
                one_of=tuple(FACILITIES),
                description="Syslog facility of the entries.",
            ),
        ),
        (
            "socket_path",
            String(
                required=True,
                default="/dev/log",
                starts_with="/",
                description="Local syslog socket (used when host is unset).",
            ),
        ),
        ("host", host(description="Host of a remote syslog server (UDP).")),
        (
            "port",
            port(required=True, default=514, description="UDP port of the remote syslog server."),
        ),
        *custom_fields_fields(),
    ],
    required=True,
)
