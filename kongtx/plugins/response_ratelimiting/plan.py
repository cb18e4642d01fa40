"""One ``response-ratelimiting`` config digested for the request path (sans-IO).

Counters: one per (usage name, configured period), keyed
``response-ratelimit:<route>:<service>:<identifier>:<window start ms>:<name>_<period>``.
The upstream reports usage as ``<header_name>: name=n, other=m`` (several
headers are combined; unknown names and malformed parts are ignored).
"""

from __future__ import annotations

from typing import Any

from kongtx.ratelimit.counters import Hit, Outcome
from kongtx.ratelimit.identity import NO_ID, format_number
from kongtx.ratelimit.windows import PERIODS, Window, window

__all__ = ["ResponseLimitPlan", "parse_usage"]

TABLE = "response_ratelimiting_metrics"


def parse_usage(values: list[str], names: Any) -> dict[str, int]:
    """Usage per known limit name from the upstream's header values (Kong's parser)."""
    usage: dict[str, int] = {}
    for value in values:
        for part in value.split(","):
            pieces = part.split("=")
            if len(pieces) != 2:
                continue
            name = pieces[0].strip()
            if name not in names:
                continue
            try:
                usage[name] = int(float(pieces[1].strip()))
            except ValueError:
                continue
    return usage


class ResponseLimitPlan:
    """A ``response-ratelimiting`` config and the scope of its plugin."""

    def __init__(
        self, conf: dict[str, Any], route_id: str | None = None, service_id: str | None = None
    ) -> None:
        limits = conf.get("limits") or {}
        #: (name, period, limit) in a stable order: names sorted, periods shortest first.
        self.entries = [
            (name, period, float(limits[name][period]))
            for name in sorted(limits)
            for period in PERIODS
            if (limits[name] or {}).get(period) is not None
        ]
        self.names = frozenset(name for name, _, _ in self.entries)
        self.header_name = conf.get("header_name") or "x-kong-limit"
        self.limit_by = conf.get("limit_by") or "consumer"
        self.block_on_first_violation = bool(conf.get("block_on_first_violation"))
        self.hide_client_headers = bool(conf.get("hide_client_headers"))
        self.fault_tolerant = bool(conf.get("fault_tolerant", True))
        self.route_id = route_id or NO_ID
        self.service_id = service_id or NO_ID
        self.key_prefix = f"response-ratelimit:{self.route_id}:{self.service_id}:"
        self.store: Any = None
        self._second = -1
        self._windows: list[Window] = []

    def windows(self, now: float) -> list[Window]:
        """The current window of every entry (computed once per second)."""
        second = int(now)
        if second != self._second:
            self._windows = [window(period, now) for _, period, _ in self.entries]
            self._second = second
        return self._windows

    def hits(self, identifier: str, windows: list[Window], usage: dict[str, int]) -> list[Hit]:
        """One counter per entry, costing the usage reported for its name (0: read only)."""
        prefix = self.key_prefix + identifier + ":"
        out = []
        for (name, period, limit), w in zip(self.entries, windows):
            label = f"{name}_{period}"
            out.append(
                Hit(
                    f"{prefix}{w.start * 1000}:{label}",
                    limit,
                    usage.get(name, 0),
                    w.end,
                    TABLE,
                    identifier,
                    label,
                    w.start,
                    self.route_id,
                    self.service_id,
                )
            )
        return out

    def remaining_by_name(self, outcome: Outcome) -> dict[str, float]:
        """The smallest remaining quota of each name (Kong's upstream request header)."""
        out: dict[str, float] = {}
        for (name, _period, limit), value in zip(self.entries, outcome.values):
            remaining = limit - value
            if name not in out or remaining < out[name]:
                out[name] = remaining
        return out

    def exhausted(self, outcome: Outcome) -> str | None:
        """The first name with no quota left (block_on_first_violation)."""
        for (name, _period, limit), value in zip(self.entries, outcome.values):
            if limit - value <= 0:
                return name
        return None

    def headers(self, outcome: Outcome, usage: dict[str, int]) -> list[tuple[str, str]]:
        """``X-RateLimit-Limit-<name>-<period>`` / ``-Remaining-`` after this response's usage."""
        out = []
        blocked = outcome.blocked >= 0
        for (name, period, limit), value in zip(self.entries, outcome.values):
            remaining = limit - value - (usage.get(name, 0) if blocked else 0)
            out.append((f"X-RateLimit-Limit-{name}-{period}", format_number(limit)))
            out.append(
                (f"X-RateLimit-Remaining-{name}-{period}", format_number(max(0.0, remaining)))
            )
        return out
