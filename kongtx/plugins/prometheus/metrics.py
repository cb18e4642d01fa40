"""The per-request metrics of one process (sans-IO): Kong's counters and histograms.

:class:`RequestMetrics` is what the ``log`` hook feeds: plain dicts keyed by
label tuples (a few dict operations per request, no lock, no I/O). It can be
turned into JSON (:meth:`RequestMetrics.to_json`) and summed with other
processes' (:meth:`RequestMetrics.add`), which is how a node's worker
processes add up in one scrape.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from typing import Any

__all__ = [
    "KONG_LATENCY_BUCKETS",
    "UPSTREAM_LATENCY_BUCKETS",
    "HISTOGRAMS",
    "RequestMetrics",
]

KONG_LATENCY_BUCKETS = (1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000, 6000)
UPSTREAM_LATENCY_BUCKETS = (25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000)

#: Histogram name -> buckets (upper bounds, ``+Inf`` implied).
HISTOGRAMS = {
    "kong_kong_latency_ms": KONG_LATENCY_BUCKETS,
    "kong_upstream_latency_ms": UPSTREAM_LATENCY_BUCKETS,
    "kong_request_latency_ms": UPSTREAM_LATENCY_BUCKETS,
}

Labels = tuple[str, ...]


class RequestMetrics:
    """Counters and histograms of proxied requests.

    * ``requests``: ``(service, route, code, source, workspace, consumer) -> count``
    * ``bandwidth``: ``(service, route, direction, workspace, consumer) -> bytes``
    * ``histograms[name]``: ``(service, route, workspace) -> [bucket counts..., +Inf count, sum]``
    """

    __slots__ = ("requests", "bandwidth", "histograms", "changed")

    def __init__(self) -> None:
        self.requests: dict[Labels, float] = {}
        self.bandwidth: dict[Labels, float] = {}
        self.histograms: dict[str, dict[Labels, list[float]]] = {name: {} for name in HISTOGRAMS}
        #: Set by every change (the process's dump runs only when something changed).
        self.changed = False

    def count_request(self, labels: Labels) -> None:
        requests = self.requests
        requests[labels] = requests.get(labels, 0) + 1
        self.changed = True

    def add_bandwidth(self, labels: Labels, size: float) -> None:
        bandwidth = self.bandwidth
        bandwidth[labels] = bandwidth.get(labels, 0) + size
        self.changed = True

    def observe(self, name: str, labels: Labels, value: float) -> None:
        """One observation of histogram ``name``."""
        series = self.histograms[name]
        buckets = HISTOGRAMS[name]
        counts = series.get(labels)
        if counts is None:
            counts = series[labels] = [0.0] * (len(buckets) + 2)
        counts[bisect_left(buckets, value)] += 1
        counts[-1] += value
        self.changed = True

    # -- between processes ---------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "requests": [[list(k), v] for k, v in self.requests.items()],
            "bandwidth": [[list(k), v] for k, v in self.bandwidth.items()],
            "histograms": {
                name: [[list(k), list(v)] for k, v in series.items()]
                for name, series in self.histograms.items()
            },
        }

    def add(self, other: RequestMetrics | Mapping[str, Any]) -> None:
        """Add ``other`` (another instance or its :meth:`to_json`) into this one."""
        data = other.to_json() if isinstance(other, RequestMetrics) else other
        for key, value in data.get("requests", ()):
            labels = tuple(key)
            self.requests[labels] = self.requests.get(labels, 0) + value
        for key, value in data.get("bandwidth", ()):
            labels = tuple(key)
            self.bandwidth[labels] = self.bandwidth.get(labels, 0) + value
        for name, series in (data.get("histograms") or {}).items():
            mine = self.histograms.get(name)
            if mine is None:
                continue
            for key, counts in series:
                labels = tuple(key)
                current = mine.get(labels)
                if current is None:
                    mine[labels] = list(counts)
                else:
                    for i, count in enumerate(counts):
                        current[i] += count
