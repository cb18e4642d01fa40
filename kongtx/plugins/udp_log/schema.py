"""udp-log config (Kong 3.x ``kong/plugins/udp-log/schema.lua``)."""

from __future__ import annotations

from kongtx.logsinks.schema import custom_fields_fields
from kongtx.schema import Number, Record
from kongtx.schema.typedefs import host, port

__all__ = ["CONFIG"]

CONFIG = Record(
    [
        ("host", host(required=True, description="Host of the log receiver.")),
        ("port", port(required=True, description="UDP port of the log receiver.")),
        (
            "timeout",
            Number(default=10000, description="Milliseconds to wait when sending to the receiver."),
        ),
        *custom_fields_fields(),
    ],
    required=True,
)
