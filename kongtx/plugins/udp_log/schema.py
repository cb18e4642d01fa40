"""udp-log config (Kong 3.x ``kong/plugins/udp-log/schema.lua``)."""

from __future__ import annotations

from kongtx.logsinks.schema import custom_fields_fields
from kongtx.schema import Number, Record
from kongtx.schema.typedefs import host, port

__all__ = ["CONFIG"]

CONFIG = Record(
    [
        ("host", host(required=True)),
        ("port", port(required=True)),
        ("timeout", Number(default=10000)),
        *custom_fields_fields(),
    ],
    required=True,
)
