"""Long CPU work run on the reactor thread in short slices, so the reactor keeps serving.

A full configuration build (100,000 routes: seconds of CPU) is a generator that does one
small step per ``next()``. :class:`SliceRunner` runs such generators with Twisted's
:class:`~twisted.internet.task.Cooperator`: steps until ``budget`` seconds of work have
passed, then back to the reactor (``callLater(0)``: pending I/O and timers run first),
then the next slice. The work stays on the reactor thread: no lock, no GIL contention
with a builder thread, and plugin ``compile`` hooks need not be thread-safe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import Cooperator

__all__ = ["DEFAULT_BUDGET", "SliceRunner"]

#: Seconds of work per slice: the longest the reactor waits for a build.
DEFAULT_BUDGET = 0.01


class SliceRunner:
    """Run step generators on ``clock``'s thread, ``budget`` seconds of steps at a time.

    :param clock: schedules the next slice (``callLater(0, ...)``).
    :param budget: seconds of work per slice (0: one step per slice).
    :param timer: how work time is measured. A slice measures the CPU it used, not
        the reactor's notion of time, hence a monotonic counter by default (a fake
        clock does not move while Python computes).
    """

    def __init__(
        self,
        clock: IReactorTime,
        budget: float = DEFAULT_BUDGET,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.budget = budget
        #: Slices run so far (how often the work gave the reactor back).
        self.slices = 0
        self._clock = clock
        self._timer = timer
        self._cooperator = Cooperator(
            terminationPredicateFactory=self._slice_ends, scheduler=self._schedule
        )

    def run(self, steps: Iterator[Any]) -> Deferred[None]:
        """Run ``steps`` to the end, in slices.

        :returns: a Deferred fired when the generator is exhausted (or failing with
            what it raised).
        """
        task = self._cooperator.cooperate(steps)
        done: Deferred[Any] = task.whenDone()
        done.addCallback(lambda _: None)
        return done

    def stop(self) -> None:
        """Stop every generator still running (their Deferreds fail)."""
        self._cooperator.stop()

    def _slice_ends(self) -> Callable[[], bool]:
        self.slices += 1
        deadline = self._timer() + self.budget
        timer = self._timer
        return lambda: timer() >= deadline

    def _schedule(self, fn: Callable[[], None]) -> IDelayedCall:
        return self._clock.callLater(0, fn)
