"""Push streams for HTTP message bodies, with back-pressure.

A body is produced by one side (a socket being parsed) and consumed by the
other (a socket being written). The consumer is attached with
:meth:`Body.start`; the consumer's socket pauses the producing socket through
the ``IPushProducer`` methods of the body.
"""
from __future__ import annotations

from typing import Callable, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.python.failure import Failure
from zope.interface import implementer


class BodyConsumer(Protocol):
    """Receives a body's bytes."""

    def write(self, data: bytes) -> None: ...

    def finish(self) -> None: ...

    def fail(self, reason: Failure) -> None: ...


class BodyTooLarge(Exception):
    """A body exceeded the limit given to :func:`read_body`."""


@implementer(IPushProducer)
class StreamBody:
    """A body fed from a live source (a parser) and drained by one consumer.

    Data fed before :meth:`start` is buffered (the source should be paused by
    then: :attr:`buffered_size` tells how much). After :meth:`start`, data goes
    straight through.

    :param length: the declared Content-Length, or ``None``.
    :param pause: called to pause the source (e.g. ``transport.pauseProducing``).
    :param resume: called to resume the source.
    :param stop: called when the consumer gives up on the body.
    """

    __slots__ = (
        "length", "_pause", "_resume", "_stop", "_consumer", "_buffer",
        "_done", "_failure", "buffered_size", "received", "_paused",
    )

    def __init__(
        self,
        length: int | None,
        pause: Callable[[], None] | None = None,
        resume: Callable[[], None] | None = None,
        stop: Callable[[], None] | None = None,
    ) -> None:
        self.length = length
        self._pause = pause
        self._resume = resume
        self._stop = stop
        self._consumer: BodyConsumer | None = None
        self._buffer: list[bytes] = []
        self._done = False
        self._failure: Failure | None = None
        self.buffered_size = 0
        self.received = 0
        self._paused = False

    # -- source side ---------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Deliver a chunk from the source."""
        self.received += len(data)
        consumer = self._consumer
        if consumer is None:
            self._buffer.append(data)
            self.buffered_size += len(data)
        else:
            consumer.write(data)

    def end(self) -> None:
        """The source reached the end of the body."""
        if self._done:
            return
        self._done = True
        if self._consumer is not None:
            self._consumer.finish()

    def error(self, reason: Failure) -> None:
        """The source broke before the end of the body."""
        if self._done:
            return
        self._done = True
        self._failure = reason
        if self._consumer is not None:
            self._consumer.fail(reason)

    @property
    def complete(self) -> bool:
        """Whether the source has ended (successfully or not)."""
        return self._done

    # -- consumer side ---------------------------------------------------------
    def start(self, consumer: BodyConsumer) -> None:
        """Attach the consumer; buffered data is written to it at once."""
        if self._consumer is not None:
            raise RuntimeError("body already started")
        self._consumer = consumer
        buffered, self._buffer = self._buffer, []
        self.buffered_size = 0
        for chunk in buffered:
            consumer.write(chunk)
        if self._done:
            if self._failure is not None:
                consumer.fail(self._failure)
            else:
                consumer.finish()
        elif self._paused:
            self.resumeProducing()

    def pauseProducing(self) -> None:
        if not self._paused:
            self._paused = True
            if self._pause is not None and not self._done:
                self._pause()

    def resumeProducing(self) -> None:
        if self._paused:
            self._paused = False
            if self._resume is not None and not self._done:
                self._resume()

    def stopProducing(self) -> None:
        if self._stop is not None and not self._done:
            self._stop()
        self._done = True


@implementer(IPushProducer)
class BufferedBody:
    """A body whose bytes are all known (plugin bodies, error pages, buffered requests)."""

    __slots__ = ("data", "length")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.length = len(data)

    def start(self, consumer: BodyConsumer) -> None:
        if self.data:
            consumer.write(self.data)
        consumer.finish()

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class _Collector:
    def __init__(self, limit: int | None) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.limit = limit
        self.done: Deferred[bytes] = Deferred()

    def write(self, data: bytes) -> None:
        if self.done.called:
            return
        self.size += len(data)
        if self.limit is not None and self.size > self.limit:
            self.done.errback(BodyTooLarge(self.size))
            return
        self.chunks.append(data)

    def finish(self) -> None:
        if not self.done.called:
            self.done.callback(b"".join(self.chunks))

    def fail(self, reason: Failure) -> None:
        if not self.done.called:
            self.done.errback(reason)


def read_body(body: StreamBody | BufferedBody | None, limit: int | None = None) -> Deferred[bytes]:
    """Collect a whole body (only where a plugin asked for buffering).

    :param limit: fail with :class:`BodyTooLarge` past this many bytes.
    :returns: a Deferred firing with the bytes.
    """
    if body is None:
        return Deferred.fromCoroutine(_empty())
    if isinstance(body, BufferedBody):
        if limit is not None and body.length > limit:
            from twisted.internet.defer import fail

            return fail(BodyTooLarge(body.length))
        from twisted.internet.defer import succeed

        return succeed(body.data)
    collector = _Collector(limit)
    body.start(collector)
    return collector.done


async def _empty() -> bytes:
    return b""
