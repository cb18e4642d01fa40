"""The severity fields syslog and loggly share."""

from __future__ import annotations

from typing import Any

from kongtx.logsinks.severity import SEVERITIES
from kongtx.schema import String

__all__ = ["severity_fields"]


def severity_fields(required: bool = True) -> list[tuple[str, Any]]:
    """``log_level`` and the three ``*_severity`` fields (default ``info``)."""
    return [
        (name, String(required=required, default="info", one_of=SEVERITIES))
        for name in (
            "log_level",
            "successful_severity",
            "client_errors_severity",
            "server_errors_severity",
        )
    ]
