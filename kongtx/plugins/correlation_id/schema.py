"""correlation-id config (Kong's ``kong/plugins/correlation-id/schema.lua``)."""

from __future__ import annotations

from kongtx.schema import Boolean, Record, String

__all__ = ["CONFIG", "GENERATORS"]

GENERATORS = ("uuid", "uuid#counter", "tracker")

CONFIG = Record(
    [
        ("header_name", String(default="Kong-Request-ID")),
        ("generator", String(required=True, default="uuid#counter", one_of=GENERATORS)),
        ("echo_downstream", Boolean(required=True, default=False)),
    ],
    required=True,
)
