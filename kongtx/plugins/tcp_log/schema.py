"""tcp-log config (Kong 3.x ``kong/plugins/tcp-log/schema.lua``)."""

from __future__ import annotations

from kongtx.logsinks.schema import custom_fields_fields
from kongtx.schema import Boolean, Number, Record
from kongtx.schema.typedefs import host, port, sni

__all__ = ["CONFIG"]

CONFIG = Record(
    [
        ("host", host(required=True)),
        ("port", port(required=True)),
        ("timeout", Number(default=10000)),
        ("keepalive", Number(default=60000)),
        ("tls", Boolean(required=True, default=False)),
        ("tls_sni", sni()),
        *custom_fields_fields(),
    ],
    required=True,
)
