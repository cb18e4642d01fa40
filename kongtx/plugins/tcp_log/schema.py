"""tcp-log config (Kong 3.x ``kong/plugins/tcp-log/schema.lua``)."""

from __future__ import annotations

from kongtx.logsinks.schema import custom_fields_fields, receiver_fields
from kongtx.schema import Boolean, Number, Record
from kongtx.schema.typedefs import sni

__all__ = ["CONFIG"]

CONFIG = Record(
    [
        *receiver_fields("TCP"),
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
