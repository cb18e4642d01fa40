"""Kong's windows: fixed periods aligned to the UTC calendar."""

from __future__ import annotations

import calendar

import pytest

from kongtx.ratelimit.windows import PERIODS, window


def _ts(*parts: int) -> int:
    return calendar.timegm((*parts, 0, 0, 0)[:6])


def test_fixed_periods_start_on_multiples_of_their_length():
    """second/minute/hour/day windows start on multiples of their length since the epoch."""
    now = _ts(2026, 12, 4, 17, 23, 45) + 0.7
    assert window("second", now) == ("second", int(now), int(now) + 1)
    assert window("minute", now) == (
        "minute",
        _ts(2026, 12, 4, 17, 23, 0),
        _ts(2026, 12, 4, 17, 24, 0),
    )
    assert window("hour", now) == ("hour", _ts(2026, 12, 4, 17, 0, 0), _ts(2026, 12, 4, 18, 0, 0))
    assert window("day", now) == ("day", _ts(2026, 12, 4, 0, 0, 0), _ts(2026, 12, 5, 0, 0, 0))


def test_month_and_year_follow_the_calendar():
    """A month starts on the 1st (31-day months last 31 days); December rolls into January."""
    now = _ts(2026, 12, 31, 23, 59, 59)
    assert window("month", now) == ("month", _ts(2026, 12, 1, 0, 0, 0), _ts(2027, 1, 1, 0, 0, 0))
    assert window("year", now) == ("year", _ts(2026, 1, 1, 0, 0, 0), _ts(2027, 1, 1, 0, 0, 0))
    feb = window("month", _ts(2028, 2, 10, 0, 0, 0))
    assert feb.end - feb.start == 29 * 86400


def test_reset_counts_whole_seconds_and_is_at_least_one():
    """RateLimit-Reset is the seconds left in the window, never 0."""
    w = window("minute", _ts(2026, 1, 1, 0, 0, 10) + 0.3)
    assert w.reset(_ts(2026, 1, 1, 0, 0, 10) + 0.3) == 50
    assert w.reset(_ts(2026, 1, 1, 0, 0, 59) + 0.9) == 1


def test_unknown_period():
    """Only Kong's six periods exist."""
    assert len(PERIODS) == 6
    with pytest.raises(KeyError):
        window("week", 0)
