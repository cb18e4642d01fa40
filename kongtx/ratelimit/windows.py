"""Kong's rate-limiting windows: fixed periods aligned to the UTC calendar (sans-IO).

``second``, ``minute``, ``hour`` and ``day`` start on multiples of their length
since the epoch (a day at 00:00 UTC); ``month`` starts on the 1st at 00:00 UTC
and ``year`` on January 1st. A counter lives until its window ends, so a
31-day month keeps its counter for 31 days (Kong's fixed 30-day expiry would
reset it a day early).
"""

from __future__ import annotations

import calendar
import time
from typing import NamedTuple

__all__ = ["PERIODS", "EXPIRATIONS", "Window", "window"]

#: The periods in Kong's order, shortest first.
PERIODS = ("second", "minute", "hour", "day", "month", "year")

#: Kong's nominal window lengths (seconds), used to order periods.
EXPIRATIONS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "month": 2592000,
    "year": 31536000,
}

_FIXED = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class Window(NamedTuple):
    """One period's current window: ``[start, end)`` in whole epoch seconds."""

    period: str
    start: int
    end: int

    def reset(self, now: float) -> int:
        """Seconds until the window ends, as Kong reports them (at least 1)."""
        return max(1, self.end - int(now))


def window(period: str, now: float) -> Window:
    """The window of ``period`` that contains ``now`` (epoch seconds).

    :raises KeyError: for an unknown period.
    """
    second = int(now)
    length = _FIXED.get(period)
    if length is not None:
        start = second - second % length
        return Window(period, start, start + length)
    tm = time.gmtime(second)
    if period == "month":
        start = calendar.timegm((tm.tm_year, tm.tm_mon, 1, 0, 0, 0))
        year, month = (tm.tm_year + 1, 1) if tm.tm_mon == 12 else (tm.tm_year, tm.tm_mon + 1)
        return Window(period, start, calendar.timegm((year, month, 1, 0, 0, 0)))
    if period == "year":
        start = calendar.timegm((tm.tm_year, 1, 1, 0, 0, 0))
        return Window(period, start, calendar.timegm((tm.tm_year + 1, 1, 1, 0, 0, 0)))
    raise KeyError(period)
