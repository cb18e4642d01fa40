"""Kong's queue: batching, coalescing, retries with back-off, bounds and drop counts (fake clock)."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock

from kongtx.logsinks.queue import BatchQueue, QueueConf
from kongtx.logsinks.stats import SINK_STATS


class Receiver:
    """A send callable recording batches; answers with queued results (default: success)."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.pending: list[Deferred[None]] = []
        self.hold = False
        self.failing = False

    def __call__(self, batch: list[Any]) -> Any:
        self.batches.append(list(batch))
        if self.failing:
            return fail(ConnectionRefusedError("down"))
        if self.hold:
            d: Deferred[None] = Deferred()
            self.pending.append(d)
            return d
        return None


def _queue(receiver: Receiver, clock: Clock, **conf: Any) -> BatchQueue[str]:
    return BatchQueue(clock, receiver, QueueConf(**conf), name="test", plugin="test-plugin")


def test_full_batch_goes_at_once_partial_after_coalescing_delay() -> None:
    """A full batch is sent when it fills; a partial one after max_coalescing_delay."""
    clock, rx = Clock(), Receiver()
    q = _queue(rx, clock, max_batch_size=3, max_coalescing_delay=2)
    for i in range(4):
        q.put(f"e{i}")
    assert rx.batches == [["e0", "e1", "e2"]]
    clock.advance(1.9)
    assert len(rx.batches) == 1
    clock.advance(0.2)
    assert rx.batches == [["e0", "e1", "e2"], ["e3"]]
    assert q.sent == 4 and len(q) == 0


def test_retry_backoff_then_recovery() -> None:
    """A failed batch is retried after initial_retry_delay doubling, and sent once the receiver recovers."""
    clock, rx = Clock(), Receiver()
    q = _queue(rx, clock, max_coalescing_delay=0, initial_retry_delay=1, max_retry_delay=4)
    rx.failing = True
    q.put("a")
    clock.advance(0)
    assert len(rx.batches) == 1
    clock.advance(0.99)
    assert len(rx.batches) == 1
    clock.advance(0.01)  # retry 1 after 1 s
    assert len(rx.batches) == 2
    clock.advance(2)  # retry 2 after 2 s
    assert len(rx.batches) == 3
    rx.failing = False
    clock.advance(4)  # retry 3 after 4 s (capped at max_retry_delay)
    assert rx.batches[-1] == ["a"] and q.sent == 1 and q.dropped == 0


def test_gives_up_after_max_retry_time_and_counts() -> None:
    """After max_retry_time the batch is dropped and counted, per queue and per plugin."""
    clock, rx = Clock(), Receiver()
    before = SINK_STATS.dropped_by_plugin().get("test-plugin", 0)
    q = _queue(rx, clock, max_coalescing_delay=0, initial_retry_delay=1, max_retry_time=5)
    rx.failing = True
    q.put("a")
    clock.pump([0, 1, 2, 4, 8, 16])
    assert q.dropped == 1 and len(q) == 0
    assert len(rx.batches) == 3  # t=0, 1, 3; the next (t=7) would pass max_retry_time
    assert SINK_STATS.dropped_by_plugin()["test-plugin"] == before + 1


def test_full_queue_drops_oldest_waiting() -> None:
    """With max_entries reached the oldest waiting entries make room (Kong), and are counted."""
    clock, rx = Clock(), Receiver()
    rx.hold = True
    q = _queue(rx, clock, max_batch_size=2, max_entries=4, max_coalescing_delay=10)
    for i in range(2):
        q.put(f"e{i}")  # batch [e0, e1] in flight, held
    for i in range(2, 6):
        q.put(f"e{i}")  # e2, e3 wait; e4 drops e2, e5 drops e3 ... bound is 4 in all
    assert len(q) == 4 and q.dropped == 2
    rx.pending[0].callback(None)
    assert rx.batches[1] == ["e4", "e5"]


def test_concurrency_limit_one_batch_in_flight() -> None:
    """concurrency_limit 1: the next batch waits for the one in flight; -1 sends them all."""
    for limit, expected in ((1, 1), (-1, 3)):
        clock, rx = Clock(), Receiver()
        rx.hold = True
        q = _queue(rx, clock, max_batch_size=1, concurrency_limit=limit)
        for i in range(3):
            q.put(i)
        assert len(rx.batches) == expected
        while rx.pending:
            rx.pending.pop(0).callback(None)
        assert len(rx.batches) == 3


def test_max_bytes_bounds_and_too_large_entry() -> None:
    """Entries over max_bytes are refused; the total queued bytes stay within max_bytes."""
    clock, rx = Clock(), Receiver()
    rx.hold = True
    q = _queue(rx, clock, max_batch_size=100, max_bytes=10, max_coalescing_delay=5)
    assert q.put("x" * 11, 11) is False
    for i in range(4):
        q.put(f"{i}", 4)
    assert len(q) == 2 and q.dropped == 3  # 11-byte entry, then two oldest 4-byte entries


def test_close_sends_waiting_once_and_drops_retries() -> None:
    """close() sends what waits without coalescing and drops batches waiting for a retry."""
    clock, rx = Clock(), Receiver()
    q = _queue(rx, clock, max_batch_size=10, max_coalescing_delay=30)
    q.put("a")
    done = q.close()
    assert rx.batches == [["a"]] and done.called
    assert q.put("b") is False and q.dropped == 1
    clock2, rx2 = Clock(), Receiver()
    q2 = _queue(rx2, clock2, max_coalescing_delay=0, initial_retry_delay=10)
    rx2.failing = True
    q2.put("a")
    clock2.advance(0)
    d = q2.close()
    assert d.called and q2.dropped == 1 and not clock2.getDelayedCalls()
