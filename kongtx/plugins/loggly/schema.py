"""loggly config (Kong 3.x ``kong/plugins/loggly/schema.lua``)."""

from __future__ import annotations

from kongtx.logsinks.schema import custom_fields_fields
from kongtx.logsinks.severity_schema import severity_fields
from kongtx.schema import Number, Record, Set, String
from kongtx.schema.typedefs import host, port

__all__ = ["CONFIG"]

CONFIG = Record(
    [
        ("host", host(default="logs-01.loggly.com", description="Loggly syslog host.")),
        ("port", port(default=514, description="Loggly syslog UDP port.")),
        ("key", String(required=True, description="Loggly customer token.")),
        ("tags", Set(String(), default=["kong"], description="Tags attached to each entry.")),
        *severity_fields(required=False),
        ("timeout", Number(default=10000, description="Milliseconds to wait when sending.")),
        *custom_fields_fields(),
    ],
    required=True,
)
