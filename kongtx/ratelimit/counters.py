"""What a counter store does, and the in-process store (sans-IO but for the clock).

A request is counted by a list of :class:`Hit` entries, one per window (and,
for response-ratelimiting, per usage name). A store applies them **as one
atomic step** (:func:`apply_hits`): it either adds every entry's ``cost`` or
none, and reports the counter values after the step. Checking and counting in
one step is what makes the limits exact under concurrency, where Kong reads
the counters, decides, and increments later (its issues 2629, 3329, 5790).

Two ways to block, one per plugin:

* ``strict`` (rate-limiting): the step is refused when an entry would go past
  its limit (``value + cost > limit``): exactly ``limit`` requests pass.
* not strict (response-ratelimiting, Kong's rule): refused when an entry with
  ``cost > 0`` has no quota left (``value >= limit``); a response may overshoot
  the remaining quota by its own usage, as in Kong.

A refused step changes nothing: a request blocked by its per-second limit does
not eat into its per-hour quota (as in Kong, which only counts requests that pass).

Every store's :meth:`~CounterStore.hit` returns an :class:`Outcome` directly when
it can answer without I/O (:class:`LocalCounters`), or a Deferred of it.
"""

from __future__ import annotations

import heapq
from collections.abc import MutableMapping, Sequence
from typing import Any, NamedTuple, Protocol, Union

from twisted.internet.defer import Deferred

__all__ = [
    "CounterStore",
    "CounterUnavailable",
    "Hit",
    "LocalCounters",
    "Outcome",
    "apply_hits",
]


class CounterUnavailable(Exception):
    """The counters cannot be reached (Redis or the database down, timeout)."""


class Hit(NamedTuple):
    """One counter touched by a request.

    :param key: the counter's name in key-value stores (Kong's format).
    :param limit: the limit of this counter's window.
    :param cost: what this request adds (0: only read the counter).
    :param expires: epoch second at which the window ends (the counter may go then).
    :param table: the SQL table of the ``cluster`` policy.
    :param identifier: who is counted (consumer id, IP...), for SQL.
    :param period: the window's period (``minute``...), for SQL.
    :param start: the window's start (epoch seconds), for SQL.
    :param route_id: the plugin's route id (all zeros when none), for SQL.
    :param service_id: the plugin's service id (all zeros when none), for SQL.
    """

    key: str
    limit: float
    cost: int
    expires: int
    table: str = ""
    identifier: str = ""
    period: str = ""
    start: int = 0
    route_id: str = ""
    service_id: str = ""


class Outcome(NamedTuple):
    """The result of one atomic step.

    :param blocked: index of the first entry that refused the step, or -1.
    :param values: every counter after the step (unchanged when refused).
    """

    blocked: int
    values: tuple[int, ...]


def refuses(value: float, hit: Hit, strict: bool) -> bool:
    """Whether ``hit`` refuses a step while its counter is at ``value``."""
    if strict:
        return value + hit.cost > hit.limit
    return hit.cost > 0 and value >= hit.limit


def apply_hits(counters: MutableMapping[str, int], hits: Sequence[Hit], strict: bool) -> Outcome:
    """Apply ``hits`` to ``counters`` in one step (see the module docstring).

    :param counters: counter values by key (missing = 0); changed in place.
    """
    get = counters.get
    current = [get(hit.key, 0) for hit in hits]
    for index, hit in enumerate(hits):
        value = current[index]
        # refuses(value, hit, strict), inlined: this runs for every counted request
        if (value + hit.cost > hit.limit) if strict else (hit.cost > 0 and value >= hit.limit):
            return Outcome(index, tuple(current))
    for index, hit in enumerate(hits):
        if hit.cost:
            value = current[index] = current[index] + hit.cost
            counters[hit.key] = value
    return Outcome(-1, tuple(current))


class CounterStore(Protocol):
    """Where a policy keeps its counters."""

    def hit(self, hits: Sequence[Hit], strict: bool) -> Union[Outcome, Deferred[Outcome]]:
        """Apply ``hits`` atomically; an :class:`Outcome` or a Deferred of one.

        Failures (a Deferred's errback) are :class:`CounterUnavailable`.
        """


class LocalCounters:
    """Counters in this process's memory: a dict lookup per entry, no I/O.

    Keys carry their window's start, so an ended window is never read again;
    ended windows' counters are dropped the next time the store is used after
    they end (a heap of window ends, so this costs nothing most of the time).

    :param clock: ``IReactorTime`` (only ``seconds()``).
    """

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.values: dict[str, int] = {}
        self._ends: list[int] = []  # heap of window ends that have keys
        self._keys_by_end: dict[int, set[str]] = {}

    def hit(self, hits: Sequence[Hit], strict: bool) -> Outcome:
        """Apply ``hits`` atomically (the reactor runs one call at a time)."""
        if self._ends and self._ends[0] <= self.clock.seconds():
            self._expire()
        values = self.values
        known = len(values)
        outcome = apply_hits(values, hits, strict)
        if len(values) != known:
            for hit in hits:
                self._track(hit)
        return outcome

    def _track(self, hit: Hit) -> None:
        keys = self._keys_by_end.get(hit.expires)
        if keys is None:
            keys = self._keys_by_end[hit.expires] = set()
            heapq.heappush(self._ends, hit.expires)
        if hit.key in self.values:
            keys.add(hit.key)

    def _expire(self) -> None:
        now = self.clock.seconds()
        while self._ends and self._ends[0] <= now:
            end = heapq.heappop(self._ends)
            for key in self._keys_by_end.pop(end, ()):
                self.values.pop(key, None)

    def __len__(self) -> int:
        return len(self.values)
