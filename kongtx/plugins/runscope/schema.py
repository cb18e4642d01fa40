"""runscope config (Kong 0.x ``kong/plugins/runscope/schema.lua``)."""

from __future__ import annotations

from kongtx.schema import Boolean, Number, Record, String
from kongtx.schema.typedefs import url

__all__ = ["CONFIG"]

CONFIG = Record(
    [
        (
            "api_endpoint",
            url(
                required=True,
                default="https://api.runscope.com",
                description="The Runscope API (messages go to /buckets/<bucket_key>/messages).",
            ),
        ),
        ("bucket_key", String(required=True, description="The Runscope bucket key.")),
        (
            "access_token",
            String(required=True, default="", description="The Runscope access token (Bearer)."),
        ),
        ("timeout", Number(default=10000, description="Milliseconds to send a message.")),
        ("keepalive", Number(default=30, description="Milliseconds an idle connection is kept.")),
        ("log_body", Boolean(default=False, description="Send request and response bodies.")),
    ],
    required=True,
)
