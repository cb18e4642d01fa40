"""The severity fields syslog and loggly share."""

from __future__ import annotations

from typing import Any

from kongtx.logsinks.severity import SEVERITIES
from kongtx.schema import String

__all__ = ["severity_fields"]


def severity_fields(required: bool = True) -> list[tuple[str, Any]]:
    """``log_level`` and the three ``*_severity`` fields (default ``info``)."""
    return [
        (name, String(required=required, default="info", one_of=SEVERITIES, description=text))
        for name, text in (
            ("log_level", "Lowest severity of the entries sent."),
            ("successful_severity", "Severity of entries for 1xx-3xx responses."),
            ("client_errors_severity", "Severity of entries for 4xx responses."),
            ("server_errors_severity", "Severity of entries for 5xx responses."),
        )
    ]
