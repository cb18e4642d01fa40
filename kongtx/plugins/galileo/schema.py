"""galileo config (Kong 0.x ``kong/plugins/galileo/schema.lua``)."""

from __future__ import annotations

from kongtx.schema import Boolean, Integer, Number, Record, String
from kongtx.schema.typedefs import host, port

__all__ = ["CONFIG"]

CONFIG = Record(
    [
        ("environment", String(description="The ALF's environment (e.g. production).")),
        (
            "retry_count",
            Integer(default=10, description="Tries of an ALF the collector did not take."),
        ),
        ("queue_size", Integer(default=1000, description="Entries per ALF sent.")),
        (
            "flush_timeout",
            Number(default=2, description="Seconds before a partial ALF is sent anyway."),
        ),
        (
            "log_bodies",
            Boolean(default=False, description="Send request and response bodies (base64)."),
        ),
        ("service_token", String(required=True, description="The collector's service token.")),
        (
            "connection_timeout",
            Number(default=30, description="Seconds to connect to and hear from the collector."),
        ),
        (
            "host",
            host(
                required=True,
                default="collector.galileo.mashape.com",
                description="The collector's host.",
            ),
        ),
        ("port", port(required=True, default=443, description="The collector's port.")),
        ("https", Boolean(default=True, description="Talk to the collector over HTTPS.")),
        (
            "https_verify",
            Boolean(default=False, description="Verify the collector's certificate."),
        ),
    ],
    required=True,
)
