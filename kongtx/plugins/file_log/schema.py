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
                description="File the log lines are appended to (created when missing).",
            ),
        ),
        (
            "reopen",
            Boolean(
                required=True,
                default=False,
                description="Reopen the file for every log line (for external log rotation).",
            ),
        ),
        *custom_fields_fields(),
    ],
    required=True,
)
