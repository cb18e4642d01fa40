"""Join two raw channels (after ``101 Switching Protocols``) both ways."""

from __future__ import annotations

from twisted.internet.defer import Deferred

from kongtx.http.raw_channel import RawChannel


class _Splice:
    __slots__ = ("a", "a_closed", "b", "b_closed", "done")

    def __init__(self, a: RawChannel, b: RawChannel) -> None:
        self.a = a
        self.b = b
        self.a_closed = False
        self.b_closed = False
        self.done: Deferred[None] = Deferred(self._cancel)

    def a_lost(self) -> None:
        if not self.a_closed:
            self.a_closed = True
            if not self.b_closed:
                self.b.close()
            self._check()

    def b_lost(self) -> None:
        if not self.b_closed:
            self.b_closed = True
            if not self.a_closed:
                self.a.close()
            self._check()

    def _check(self) -> None:
        if self.a_closed and self.b_closed and not self.done.called:
            self.done.callback(None)

    def _cancel(self, _: Deferred[None]) -> None:
        # Cancelling drops both ends; the Deferred fails with CancelledError.
        self.a.close()
        self.b.close()


def splice(a: RawChannel, b: RawChannel) -> Deferred[None]:
    """Copy bytes from ``a`` to ``b`` and from ``b`` to ``a`` until either closes.

    Each side's socket pauses the other side's reading when its write buffer
    fills. When one side closes, the other is closed after its pending bytes
    are written.

    :returns: a Deferred firing when both ends are closed; cancelling it
        closes both.
    """
    joint = _Splice(a, b)
    # Producers first, so bytes buffered before the splice are flow-controlled too.
    a.register_producer(b)
    b.register_producer(a)
    a.set_receiver(b.write, joint.a_lost)
    b.set_receiver(a.write, joint.b_lost)
    return joint.done
