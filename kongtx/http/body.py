"""Push streams for HTTP message bodies, with back-pressure.

A body is produced by one side (a socket being parsed) and consumed by the
other (a socket being written). The consumer is attached with
:meth:`Body.start`; the consumer's socket pauses the producing socket through
the ``IPushProducer`` methods of the body.
"""

from __future__ import annotations

import tempfile
from typing import IO, Callable, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.python.failure import Failure
from zope.interface import implementer


class BodyConsumer(Protocol):
    """Receives a body's bytes."""

    def write(self, data: bytes) -> None: ...

    def finish(self) -> None: ...

    def fail(self, reason: Failure) -> None: ...


class Body(Protocol):
    """A message body: a push producer started once per send (:meth:`start`).

    Implemented by :class:`StreamBody`, :class:`BufferedBody`, :class:`FileBody`
    and body wrappers (e.g. request-size-limiting's ``LimitedBody``).
    """

    @property
    def length(self) -> int | None:
        """The size in bytes when known (Content-Length), else ``None``."""

    def start(self, consumer: BodyConsumer) -> None: ...

    def pauseProducing(self) -> None: ...

    def resumeProducing(self) -> None: ...

    def stopProducing(self) -> None: ...


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
        "length",
        "_pause",
        "_resume",
        "_stop",
        "_consumer",
        "_buffer",
        "_done",
        "_failure",
        "buffered_size",
        "received",
        "_paused",
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
        buffered = self._buffer
        if buffered:
            self._buffer = []
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


@implementer(IPushProducer)
class FileBody:
    """A request body read from twisted.web's content file, chunk by chunk, with back-pressure."""

    def __init__(self, content: IO[bytes], length: int, clock: IReactorTime) -> None:
        self.length = length
        self._content = content
        self._clock = clock
        self._consumer: BodyConsumer | None = None
        self._paused = False
        self._done = False
        self._scheduled = False

    def start(self, consumer: BodyConsumer) -> None:
        """Send the file from its beginning (a body may be sent again on a retry)."""
        self._consumer = consumer
        self._done = self._paused = False
        self._content.seek(0)
        self._pump()

    def _pump(self) -> None:
        self._scheduled = False
        consumer = self._consumer
        while consumer is not None and not self._paused and not self._done:
            chunk = self._content.read(FILE_CHUNK)
            if not chunk:
                self._done = True
                consumer.finish()
                return
            consumer.write(chunk)

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        if not self._scheduled and not self._done and self._consumer is not None:
            self._scheduled = True
            self._clock.callLater(0, self._pump)

    def stopProducing(self) -> None:
        self._done = True


FILE_CHUNK = 65536


class _Spooler:
    """Collects a body in memory, moving to a temporary file past ``memory_limit``."""

    def __init__(self, memory_limit: int, clock: IReactorTime) -> None:
        self.memory_limit = memory_limit
        self.clock = clock
        self.chunks: list[bytes] = []
        self.size = 0
        self.file: IO[bytes] | None = None
        self.done: Deferred[BufferedBody | FileBody] = Deferred()

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.file is not None:
            self.file.write(data)
            return
        self.chunks.append(data)
        if self.size > self.memory_limit:
            self.file = tempfile.TemporaryFile()  # noqa: SIM115 - outlives this call; closed by its body
            for chunk in self.chunks:
                self.file.write(chunk)
            self.chunks = []

    def finish(self) -> None:
        if self.file is None:
            self.done.callback(BufferedBody(b"".join(self.chunks)))
        else:
            self.file.flush()
            self.done.callback(FileBody(self.file, self.size, self.clock))

    def fail(self, reason: Failure) -> None:
        if self.file is not None:
            self.file.close()
        self.done.errback(reason)


def spool_body(
    body: StreamBody, clock: IReactorTime, memory_limit: int = 1 << 20
) -> Deferred[BufferedBody | FileBody]:
    """Read a whole body before proxying (``request_buffering``), as nginx does:
    in memory up to ``memory_limit`` bytes, in a temporary file beyond. The
    result can be sent more than once (retries)."""
    spooler = _Spooler(memory_limit, clock)
    body.start(spooler)
    return spooler.done


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


def read_body(body: Body | None, limit: int | None = None) -> Deferred[bytes]:
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
