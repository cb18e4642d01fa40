"""Kong's queue (``kong/tools/queue.lua``): bounded, batching, retrying; never blocks the caller.

A :class:`BatchQueue` takes entries with :meth:`~BatchQueue.put` (O(1), never
raises) and hands them to its ``send`` callable in batches of up to
``max_batch_size``, at most ``max_coalescing_delay`` seconds after the first
entry of a batch arrived. ``send`` returns a Deferred (or nothing); a failure
is retried after ``initial_retry_delay`` doubling up to ``max_retry_delay``
until ``max_retry_time`` has passed since the first try, then the batch is
dropped. At most ``concurrency_limit`` batches are in flight (``-1``: no limit).

Bounds: entries waiting or in flight never exceed ``max_entries``, nor their
sizes ``max_bytes`` when set. As Kong, a full queue drops its *oldest* waiting
entries to make room; an entry larger than ``max_bytes`` is dropped at once.
Every dropped entry is counted (:attr:`BatchQueue.dropped`, and in
:data:`kongtx.logsinks.stats.SINK_STATS` under the queue's plugin name).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

from twisted.internet.defer import CancelledError, Deferred, TimeoutError, maybeDeferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from kongtx.logsinks.stats import SINK_STATS

__all__ = ["BatchQueue", "QueueConf"]

log = Logger()

T = TypeVar("T")


@dataclass(frozen=True)
class QueueConf:
    """The ``queue`` record of Kong's plugin configs (seconds for times)."""

    max_batch_size: int = 1
    max_coalescing_delay: float = 1.0
    max_entries: int = 10000
    max_bytes: int | None = None
    max_retry_time: float = 60.0
    initial_retry_delay: float = 0.01
    max_retry_delay: float = 60.0
    concurrency_limit: int = 1
    #: kongtx: give a batch up after this many retries (None: only ``max_retry_time`` limits).
    max_retries: int | None = None

    @classmethod
    def from_config(cls, queue: Mapping[str, Any] | None, **fallback: Any) -> QueueConf:
        """Build from a plugin's ``queue`` record; ``fallback`` fills fields it leaves null."""
        values = dict(fallback)
        for name in cls.__dataclass_fields__:
            value = (queue or {}).get(name)
            if value is not None:
                values[name] = value
        return cls(**values)


class BatchQueue(Generic[T]):
    """One named queue in front of a transport.

    :param clock: ``IReactorTime`` (a ``task.Clock`` in tests).
    :param send: ``send(batch) -> Deferred | None``; a failure (or a Deferred that
        fails) means "retry this batch".
    :param conf: the bounds and timings.
    :param name: the queue's name in logs (Kong: the plugin and its instance).
    :param plugin: the plugin name drops are counted under.
    """

    def __init__(
        self,
        clock: IReactorTime,
        send: Callable[[list[T]], Deferred[Any] | None],
        conf: QueueConf,
        name: str,
        plugin: str,
    ) -> None:
        self.clock = clock
        self.conf = conf
        self.name = name
        self.plugin = plugin
        self._send = send
        self._waiting: deque[tuple[T, int]] = deque()
        self._waiting_bytes = 0
        self._in_flight_entries = 0
        self._in_flight_bytes = 0
        self._in_flight = 0
        self._timer: IDelayedCall | None = None
        self._due = False
        self._closed = False
        self._full_logged = False
        self._idle: list[Deferred[None]] = []
        self._retries: dict[IDelayedCall, tuple[list[T], int]] = {}
        #: Entries dropped (queue full, too large, or given up after retries).
        self.dropped = 0
        #: Entries handed to ``send`` successfully.
        self.sent = 0

    # -- putting ---------------------------------------------------------------
    def __len__(self) -> int:
        """Entries waiting or in flight."""
        return len(self._waiting) + self._in_flight_entries

    def put(self, entry: T, size: int = 0) -> bool:
        """Queue ``entry`` (``size``: its bytes, for ``max_bytes``); False if it was dropped."""
        conf = self.conf
        if self._closed:
            self._drop(1, "queue is closed")
            return False
        max_bytes = conf.max_bytes
        if max_bytes is not None and size > max_bytes:
            self._drop(1, "entry is longer than the queue's max_bytes")
            return False
        waiting = self._waiting
        while waiting and (
            len(waiting) + self._in_flight_entries >= conf.max_entries
            or (
                max_bytes is not None
                and self._waiting_bytes + self._in_flight_bytes + size > max_bytes
            )
        ):
            _, old_size = waiting.popleft()
            self._waiting_bytes -= old_size
            self._drop(1, "queue full, dropping old entries until processing is successful again")
        if self._in_flight_entries >= conf.max_entries or (
            max_bytes is not None and self._in_flight_bytes + size > max_bytes
        ):
            self._drop(1, "queue full, every entry is being sent")
            return False
        waiting.append((entry, size))
        self._waiting_bytes += size
        if len(waiting) >= conf.max_batch_size:
            if not self._due or self._can_send():  # else a full batch already waits its turn
                self._due = True
                self._pump()
        elif self._timer is None:
            self._timer = self.clock.callLater(conf.max_coalescing_delay, self._coalesced)
        return True

    def _drop(self, count: int, reason: str) -> None:
        self.dropped += count
        SINK_STATS.dropped(self.plugin, count)
        if not self._full_logged:
            # Once per episode (Kong logs "queue full" once until processing succeeds again).
            self._full_logged = True
            log.error(
                "{plugin} queue {queue}: {reason} ({count} dropped so far)",
                plugin=self.plugin,
                queue=self.name,
                reason=reason,
                count=self.dropped,
            )

    # -- sending ---------------------------------------------------------------
    def _coalesced(self) -> None:
        self._timer = None
        self._due = True
        self._pump()

    def _can_send(self) -> bool:
        limit = self.conf.concurrency_limit
        return limit < 0 or self._in_flight < limit

    def _pump(self) -> None:
        conf = self.conf
        waiting = self._waiting
        while waiting and self._can_send():
            if not self._due and len(waiting) < conf.max_batch_size:
                break
            count = min(len(waiting), conf.max_batch_size)
            batch = []
            size = 0
            for _ in range(count):
                entry, entry_size = waiting.popleft()
                batch.append(entry)
                size += entry_size
            self._waiting_bytes -= size
            self._in_flight += 1
            self._in_flight_entries += count
            self._in_flight_bytes += size
            self._attempt(batch, size, self.clock.seconds(), 0)
        if not waiting:
            self._due = False
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        elif self._timer is None and not self._due:
            self._timer = self.clock.callLater(conf.max_coalescing_delay, self._coalesced)
        if not waiting and self._in_flight == 0:
            idle, self._idle = self._idle, []
            for d in idle:
                if not d.called:
                    d.callback(None)

    def _attempt(self, batch: list[T], size: int, first: float, retries: int) -> None:
        d = maybeDeferred(self._send, batch)
        d.addCallbacks(
            self._sent,
            self._failed,
            callbackArgs=(batch, size),
            errbackArgs=(batch, size, first, retries),
        )
        d.addErrback(lambda f: log.failure("{queue}: queue bookkeeping failed", f, queue=self.name))

    def _finished(self, batch: list[T], size: int) -> None:
        self._in_flight -= 1
        self._in_flight_entries -= len(batch)
        self._in_flight_bytes -= size
        self._pump()

    def _sent(self, _: Any, batch: list[T], size: int) -> None:
        self.sent += len(batch)
        self._full_logged = False
        self._finished(batch, size)

    def _failed(
        self, failure: Failure, batch: list[T], size: int, first: float, retries: int
    ) -> None:
        conf = self.conf
        delay = min(conf.max_retry_delay, conf.initial_retry_delay * (2**retries))
        if (
            self._closed
            or self.clock.seconds() + delay - first > conf.max_retry_time
            or (conf.max_retries is not None and retries >= conf.max_retries)
        ):
            log.error(
                "{plugin} queue {queue}: could not send entries, giving up after {retries} "
                "retries. Last error: {error}",
                plugin=self.plugin,
                queue=self.name,
                retries=retries,
                error=failure.getErrorMessage(),
            )
            self.dropped += len(batch)
            SINK_STATS.dropped(self.plugin, len(batch))
            self._finished(batch, size)
            return
        if retries == 0:
            log.warn(
                "{plugin} queue {queue}: sending failed, retrying: {error}",
                plugin=self.plugin,
                queue=self.name,
                error=failure.getErrorMessage(),
            )
        call = self.clock.callLater(delay, self._retry, batch, size, first, retries + 1)
        self._retries[call] = (batch, size)

    def _retry(self, batch: list[T], size: int, first: float, retries: int) -> None:
        self._retries = {c: b for c, b in self._retries.items() if c.active()}
        self._attempt(batch, size, first, retries)

    # -- lifecycle ---------------------------------------------------------------
    def flush(self) -> Deferred[None]:
        """Send what waits now (no coalescing); fires when nothing waits or is in flight."""
        if not self._waiting and self._in_flight == 0:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._idle.append(d)
        self._due = True
        self._pump()
        return d

    def close(self, timeout: float = 5.0) -> Deferred[None]:
        """Refuse new entries, drop the batches waiting for a retry, send what waits once;
        fires when that is done or after ``timeout`` seconds (whatever is left is dropped)."""
        self._closed = True
        retries, self._retries = self._retries, {}
        for call, (batch, size) in retries.items():
            if call.active():
                call.cancel()
                self.dropped += len(batch)
                SINK_STATS.dropped(self.plugin, len(batch))
                self._in_flight -= 1
                self._in_flight_entries -= len(batch)
                self._in_flight_bytes -= size
        d = self.flush()
        d.addTimeout(timeout, self.clock)
        d.addErrback(lambda f: f.trap(CancelledError, TimeoutError))
        return d
