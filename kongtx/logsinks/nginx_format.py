"""The line formats of Kong's own logs (nginx's), sans-IO.

* access logs: nginx's ``combined`` format; the proxy's adds Kong's
  ``kong_request_id: "<id>"`` (Kong's ``kong_log_format``);
* error logs: ``YYYY/MM/DD HH:MM:SS [level] <pid>#0: <message>``.

Values are escaped as nginx does: ``"``, ``\\`` and bytes outside printable
ASCII become ``\\xHH``.
"""

from __future__ import annotations

import time

__all__ = ["LEVELS", "access_line", "error_line", "escape", "time_local"]

#: Kong's ``log_level`` names, least important first.
LEVELS = ("debug", "info", "notice", "warn", "error", "crit", "alert", "emerg")

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def time_local(when: float) -> str:
    """nginx's ``$time_local``: ``04/Dec/2026:17:50:00 +0000``."""
    t = time.localtime(when)
    offset = t.tm_gmtoff or 0
    sign = "+" if offset >= 0 else "-"
    offset = abs(offset) // 60
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {sign}{offset // 60:02d}{offset % 60:02d}"
    )


def escape(value: str | None) -> str:
    """A variable as nginx writes it in an access log (``-`` when empty)."""
    if not value:
        return "-"
    out: list[str] = []
    for ch in value:
        code = ord(ch)
        if ch in '"\\' or code < 0x20 or code > 0x7E:
            if code > 0xFF:
                out.extend(f"\\x{b:02X}" for b in ch.encode())
            else:
                out.append(f"\\x{code:02X}")
        else:
            out.append(ch)
    return "".join(out)


def access_line(
    remote_addr: str,
    when: float,
    request_line: str,
    status: int,
    body_bytes: int,
    referer: str | None,
    user_agent: str | None,
    request_id: str | None = None,
) -> str:
    """One ``combined`` line (with ``kong_request_id`` when ``request_id`` is given)."""
    line = (
        f'{remote_addr} - - [{time_local(when)}] "{escape(request_line)}" {status} {body_bytes} '
        f'"{escape(referer)}" "{escape(user_agent)}"'
    )
    if request_id is not None:
        line += f' kong_request_id: "{request_id}"'
    return line


def error_line(when: float, level: str, pid: int, message: str) -> str:
    """One error log line."""
    t = time.localtime(when)
    stamp = (
        f"{t.tm_year}/{t.tm_mon:02d}/{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    )
    return f"{stamp} [{level}] {pid}#0: {message}"
