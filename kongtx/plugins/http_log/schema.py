"""http-log config (Kong 3.x ``kong/plugins/http-log/schema.lua``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from kongtx.logsinks.schema import custom_fields_fields, queue_record
from kongtx.schema import Custom, Integer, Map, Number, Record, String
from kongtx.schema.typedefs import header_name, url

__all__ = ["CONFIG", "OPTIONS"]

_headers = Map(
    keys=header_name(
        match_none=[
            (r"^[Hh][Oo][Ss][Tt]$", "cannot contain 'Host' header"),
            (
                r"^[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Ll][Ee][Nn][Gg][Tt][Hh]$",
                "cannot contain 'Content-Length' header",
            ),
            (
                r"^[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Tt][Yy][Pp][Ee]$",
                "cannot contain 'Content-Type' header",
            ),
        ]
    ),
    values=String(),
)


def _no_double_authorization(conf: Mapping[str, Any]) -> Any:
    endpoint = conf.get("http_endpoint") or ""
    headers = conf.get("headers") or {}
    if "@" in urlsplit(endpoint).netloc and any(k.lower() == "authorization" for k in headers):
        return "specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed"
    return None


CONFIG = Record(
    [
        (
            "http_endpoint",
            url(
                required=True,
                description="URL the log entries are sent to (userinfo is sent as Basic authentication).",
            ),
        ),
        (
            "method",
            String(
                default="POST",
                one_of=("POST", "PUT", "PATCH"),
                description="HTTP method of the log requests.",
            ),
        ),
        (
            "content_type",
            String(
                default="application/json",
                one_of=("application/json", "application/json; charset=utf-8"),
                description="Content-Type of the log requests.",
            ),
        ),
        (
            "timeout",
            Number(default=10000, description="Milliseconds to wait for the log endpoint."),
        ),
        (
            "keepalive",
            Number(
                default=60000,
                description="Milliseconds an idle connection to the endpoint is kept open.",
            ),
        ),
        ("retry_count", Integer(description="Deprecated (use queue.max_retry_time).")),
        ("queue_size", Integer(description="Deprecated (use queue.max_batch_size).")),
        ("flush_timeout", Number(description="Deprecated (use queue.max_coalescing_delay).")),
        ("headers", _headers(description="Headers added to the log requests.")),
        ("queue", queue_record()),
        *custom_fields_fields(),
    ],
    required=True,
    entity_checks=[Custom(_no_double_authorization, ["http_endpoint", "headers"])],
)

OPTIONS = {"protocols": ["grpc", "grpcs", "http", "https"]}
