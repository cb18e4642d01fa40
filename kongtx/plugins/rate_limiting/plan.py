"""One ``rate-limiting`` config digested for the request path (sans-IO).

:class:`RateLimitPlan` knows who a request is counted as (Kong's identifiers),
which counters it touches (one :class:`~kongtx.ratelimit.counters.Hit` per
configured period) and which headers the outcome produces.
"""

from __future__ import annotations

from typing import Any

from kongtx.plugins.base import ProxyContext
from kongtx.ratelimit.counters import Hit, Outcome
from kongtx.ratelimit.identity import NO_ID, format_number, identifier
from kongtx.ratelimit.windows import EXPIRATIONS, PERIODS, Window, window

__all__ = ["RateLimitPlan"]

TABLE = "ratelimiting_metrics"

_LIMIT = {p: f"X-RateLimit-Limit-{p.capitalize()}" for p in PERIODS}
_REMAINING = {p: f"X-RateLimit-Remaining-{p.capitalize()}" for p in PERIODS}


class RateLimitPlan:
    """A ``rate-limiting`` config and the scope of its plugin.

    :param conf: the plugin's ``config``.
    :param route_id: the plugin's route id, or None (global or service plugin).
    :param service_id: the plugin's service id, or None.
    """

    def __init__(
        self, conf: dict[str, Any], route_id: str | None = None, service_id: str | None = None
    ) -> None:
        # Integral limits stay ints, so remaining counts print without a conversion.
        self.limits = [(p, _number(conf[p])) for p in PERIODS if conf.get(p) is not None]
        self._limit_texts = [format_number(limit) for _, limit in self.limits]
        #: Per configured period: its limit header, its remaining header's name, its length.
        self._limit_headers = [
            (_LIMIT[p], text) for (p, _), text in zip(self.limits, self._limit_texts)
        ]
        self._remaining_names = [_REMAINING[p] for p, _ in self.limits]
        self._lengths = [EXPIRATIONS[p] for p, _ in self.limits]
        #: Lower-case names of every header this plan sets (replaced in one pass).
        self.header_names = frozenset(
            [_LIMIT[p].lower() for p, _ in self.limits]
            + [_REMAINING[p].lower() for p, _ in self.limits]
            + ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"]
        )
        self.limit_by = conf.get("limit_by") or "consumer"
        self.header_name = conf.get("header_name")
        self.path = conf.get("path")
        self.route_id = route_id or NO_ID
        self.service_id = service_id or NO_ID
        self.key_prefix = f"ratelimit:{self.route_id}:{self.service_id}:"
        self.fault_tolerant = bool(conf.get("fault_tolerant", True))
        self.hide_client_headers = bool(conf.get("hide_client_headers", False))
        self.error_code = int(conf.get("error_code") or 429)
        self.error_message = conf.get("error_message") or "API rate limit exceeded"
        self.store: Any = None  # the policy's counter store, bound on first use
        self._second = -1
        self._windows: list[Window] = []
        self._hits: dict[str, list[Hit]] = {}  # by identifier, for the current second

    def identifier(self, ctx: ProxyContext) -> str:
        """Kong's identifier for ``limit_by``; the client IP when it has none."""
        return identifier(ctx, self.limit_by, self.header_name, self.path)

    # -- what --------------------------------------------------------------------
    def windows(self, now: float) -> list[Window]:
        """The current window of every configured period (computed once per second)."""
        second = int(now)
        if second != self._second:
            self._windows = [window(period, now) for period, _ in self.limits]
            self._second = second
            self._hits = {}
        return self._windows

    def hits(self, identifier: str, windows: list[Window]) -> list[Hit]:
        """One counter per configured period, each counting this request once.

        Built once per identifier and second (``windows`` must be this second's).
        """
        found = self._hits.get(identifier)
        if found is not None and found[0].expires == windows[0].end:
            return found
        prefix = self.key_prefix + identifier + ":"
        built = self._hits[identifier] = [
            Hit(
                f"{prefix}{w.start * 1000}:{w.period}",
                limit,
                1,
                w.end,
                TABLE,
                identifier,
                w.period,
                w.start,
                self.route_id,
                self.service_id,
            )
            for (_, limit), w in zip(self.limits, windows)
        ]
        return built

    # -- headers -----------------------------------------------------------------
    def headers(
        self, outcome: Outcome, windows: list[Window], now: float
    ) -> tuple[list[tuple[str, str]], int]:
        """Kong's headers for ``outcome`` and the ``RateLimit-Reset`` seconds.

        Remaining counts this request when it passes; a blocked request only
        takes one off the period that blocked it (as Kong reports it).
        """
        out: list[tuple[str, str]] = []
        values = outcome.values
        blocked = outcome.blocked
        limit_headers = self._limit_headers
        remaining_names = self._remaining_names
        lengths = self._lengths
        best = -1  # the period whose quota is the lowest (the longest one among equals)
        best_remaining: float = 0
        best_text = ""
        for index, (_, limit) in enumerate(self.limits):
            remaining = limit - values[index]
            if index == blocked:
                remaining -= 1
            if remaining < 0:
                remaining = 0
            text = str(remaining) if type(remaining) is int else format_number(remaining)
            out.append(limit_headers[index])
            out.append((remaining_names[index], text))
            if (
                best < 0
                or remaining < best_remaining
                or (remaining == best_remaining and lengths[index] > lengths[best])
            ):
                best, best_remaining, best_text = index, remaining, text
        assert best >= 0
        reset = windows[best].reset(now)
        out.append(("RateLimit-Limit", self._limit_texts[best]))
        out.append(("RateLimit-Remaining", best_text))
        out.append(("RateLimit-Reset", str(reset)))
        return out, reset


def _number(value: Any) -> float:
    number = float(value)
    return int(number) if number.is_integer() else number
