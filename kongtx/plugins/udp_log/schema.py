"""udp-log config (Kong 3.x ``kong/plugins/udp-log/schema.lua``)."""

from __future__ import annotations

from kongtx.logsinks.schema import custom_fields_fields, receiver_fields
from kongtx.schema import Record

__all__ = ["CONFIG"]

CONFIG = Record(
    [
        *receiver_fields("UDP"),
        *custom_fields_fields(),
    ],
    required=True,
)
