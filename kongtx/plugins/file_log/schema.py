"""file-log config (Kong 3.x ``kong/plugins/file-log/schema.lua``)."""

from __future__ import annotations

from kongtx.logsinks.schema import custom_fields_fields
from kongtx.schema import Boolean, Record, String

__all__ = ["CONFIG"]

CONFIG = Record(
    [
        (
            "path",
            String(
                required=True,
                match_all=[(r"^[^*&%\\`]+$", "not a valid filename")],
            ),
        ),
        ("reopen", Boolean(required=True, default=False)),
        *custom_fields_fields(),
    ],
    required=True,
)
