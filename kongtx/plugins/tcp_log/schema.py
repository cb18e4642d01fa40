"""tcp-log config (Kong 3.x ``kong/plugins/tcp-log/schema.lua``)."""

from __future__ import annotations

from kongtx.logsinks.schema import custom_fields_fields
from kongtx.schema import Boolean, Number, Record
from kongtx.schema.typedefs import host, port, sni

__all__ = ["CONFIG"]

CONFIG = Record(
    [
        ("host", host(required=True, description="Host of the log receiver.")),
        ("port", port(required=True, description="TCP port of the log receiver.")),
        (
            "timeout",
            Number(default=10000, description="Milliseconds to wait when sending to the receiver."),
        ),
        (
            "keepalive",
            Number(
                default=60000,
                description="Milliseconds an idle connection to the receiver is kept open.",
            ),
        ),
        (
            "tls",
            Boolean(required=True, default=False, description="Connect to the receiver with TLS."),
        ),
        ("tls_sni", sni(description="Server name sent in the TLS handshake.")),
        *custom_fields_fields(),
    ],
    required=True,
)
