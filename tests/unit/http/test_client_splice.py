"""Unit tests of splice() with in-memory raw channels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kongtx.http.splice import splice


class FakeChannel:
    """A RawChannel recording what was written and who registered as producer."""

    def __init__(self, buffered: list[bytes] | None = None) -> None:
        self.written: list[bytes] = []
        self.closed = False
        self.paused = False
        self.producer: Any = None
        self._buffer = list(buffered or [])
        self._on_data: Callable[[bytes], None] | None = None
        self._on_close: Callable[[], None] | None = None

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.written.append(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self._on_close is not None:
                self._on_close()

    def set_receiver(self, on_data: Callable[[bytes], None], on_close: Callable[[], None]) -> None:
        self._on_data, self._on_close = on_data, on_close
        for chunk in self._buffer:
            on_data(chunk)

    def receive(self, data: bytes) -> None:
        assert self._on_data is not None
        self._on_data(data)

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        self.close()

    def register_producer(self, producer: Any) -> None:
        self.producer = producer


def test_bytes_flow_both_ways() -> None:
    """Bytes received on one side are written to the other, buffered ones first."""
    a, b = FakeChannel([b"early"]), FakeChannel()
    splice(a, b)
    a.receive(b"to-b")
    b.receive(b"to-a")
    assert b.written == [b"early", b"to-b"] and a.written == [b"to-a"]


def test_each_side_is_flow_controlled_by_the_other() -> None:
    """Each channel's socket is the producer-controller of the opposite channel."""
    a, b = FakeChannel(), FakeChannel()
    splice(a, b)
    assert a.producer is b and b.producer is a
    a.producer.pauseProducing()
    assert b.paused


def test_closing_one_side_closes_the_other_and_fires() -> None:
    """When one end closes, the other is closed and the Deferred fires once both are closed."""
    a, b = FakeChannel(), FakeChannel()
    done = splice(a, b)
    assert not done.called
    a.close()
    assert b.closed and done.called


def test_cancel_closes_both() -> None:
    """Cancelling the splice closes both channels."""
    a, b = FakeChannel(), FakeChannel()
    done = splice(a, b)
    done.cancel()
    assert a.closed and b.closed
    done.addErrback(lambda _: None)
