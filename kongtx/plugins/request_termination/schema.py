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
        "status_code": Integer(required=True, default=503, between=(100, 599)),
        "message": String(),
        "content_type": String(),
        "body": String(),
        "echo": Boolean(required=True, default=False),
        "trigger": typedefs.header_name,
    },
    validators=[_check],
)
