"""correlation-id config (Kong's ``kong/plugins/correlation-id/schema.lua``)."""

from __future__ import annotations

from kongtx.schema import Boolean, Record, String

__all__ = ["CONFIG", "GENERATORS"]

GENERATORS = ("uuid", "uuid#counter", "tracker")

CONFIG = Record(
    [
        (
            "header_name",
            String(
                default="Kong-Request-ID",
                description="Header carrying the correlation id to the upstream.",
            ),
        ),
        (
            "generator",
            String(
                required=True,
                default="uuid#counter",
                one_of=GENERATORS,
                description="How ids are made: uuid, uuid#counter (a node uuid and a counter) "
                "or tracker (server address, port, time, connection and request data).",
            ),
        ),
        (
            "echo_downstream",
            Boolean(
                required=True,
                default=False,
                description="Also send the header back to the client.",
            ),
        ),
    ],
    required=True,
)
