"""``request-termination`` config (Kong's ``kong/plugins/request-termination/schema.lua``)."""

from __future__ import annotations

from typing import Any

from kongtx.schema import typedefs
from kongtx.schema.fields import Boolean, Integer, Record, String


def _present(value: Any) -> bool:
    return isinstance(value, str) and len(value) > 0


def _check(config: dict[str, Any]) -> str | None:
    if _present(config.get("message")) and (
        _present(config.get("content_type")) or _present(config.get("body"))
    ):
        return "message cannot be used with content_type or body"
    if _present(config.get("content_type")) and not _present(config.get("body")):
        return "content_type requires a body"
    if config.get("echo") and (
        _present(config.get("content_type")) or _present(config.get("body"))
    ):
        return "echo cannot be used with content_type and body"
    return None


CONFIG = Record(
    {
        "status_code": Integer(
            required=True,
            default=503,
            between=(100, 599),
            description="HTTP status of the answer.",
        ),
        "message": String(description="Message of the JSON answer (not with body)."),
        "content_type": String(description="Content-Type of a raw body."),
        "body": String(description="Raw body of the answer (not with message)."),
        "echo": Boolean(
            required=True,
            default=False,
            description="Answer with a copy of the request and of the matched route and service.",
        ),
        "trigger": typedefs.header_name(
            description="Only terminate requests with this header or query argument."
        ),
    },
    validators=[_check],
)
