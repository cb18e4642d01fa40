"""Syslog severities as the syslog and loggly plugins use them (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FACILITIES", "LOG_LEVELS", "SEVERITIES", "severity_for", "should_send"]

#: Severity name -> syslog number (lower is more important).
LOG_LEVELS = {
    "debug": 7,
    "info": 6,
    "notice": 5,
    "warning": 4,
    "err": 3,
    "crit": 2,
    "alert": 1,
    "emerg": 0,
}
SEVERITIES = tuple(LOG_LEVELS)

#: Facility name -> syslog number.
FACILITIES = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    **{f"local{i}": 16 + i for i in range(8)},
}


def severity_for(status: int, conf: Mapping[str, Any]) -> str:
    """Kong's choice: ``server_errors_severity`` for 5xx, ``client_errors_severity`` for 4xx,
    ``successful_severity`` otherwise."""
    if status >= 500:
        return str(conf["server_errors_severity"])
    if status >= 400:
        return str(conf["client_errors_severity"])
    return str(conf["successful_severity"])


def should_send(severity: str, log_level: str) -> bool:
    """Whether an entry of ``severity`` is at least as important as ``log_level``."""
    return LOG_LEVELS[severity] <= LOG_LEVELS[log_level]
