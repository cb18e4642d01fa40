"""A request body that counts bytes as they stream and fails once past a limit.

Used when the size is not known before the body is read (chunked requests):
nothing is buffered beyond what the upstream client already holds. When the
limit is crossed, the rest of the client's body is dropped (the source is
stopped) and the consumer — the upstream request writer — fails with
:class:`RequestSizeExceeded`:

* before the upstream response has started, the upstream request fails with
  it; the core answers it like an :class:`~kongtx.errors.UpstreamFailure`
  carrying a message, i.e. Kong's ``413 Request size limit exceeded`` error
  (``417`` when the client sent ``Expect: 100-continue``), and the upstream
  connection is aborted so the upstream never sees a complete request;
* after the upstream response has started (an upstream answering before
  reading the whole body), the status is already on the wire: the upstream
  connection is aborted, the response body breaks off and the client
  connection is dropped.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IPushProducer
from twisted.python.failure import Failure
from zope.interface import implementer

from kongtx.errors import ProxyExit, UpstreamFailure

MESSAGE = "Request size limit exceeded"

__all__ = ["LimitedBody", "RequestSizeExceeded", "MESSAGE"]


class RequestSizeExceeded(UpstreamFailure, ProxyExit):
    """The streamed request body went over the limit.

    Both an ``UpstreamFailure`` (what the core renders today when forwarding
    fails: ``status`` + ``message``) and a ``ProxyExit`` (what a core catching
    plugin exits around forwarding would render).
    """

    def __init__(self, status: int = 413, message: str = MESSAGE) -> None:
        Exception.__init__(self, status, message)
        self.status = status
        self.message = message
        self.body = None
        self.headers = None
        self.content_type = None


@implementer(IPushProducer)
class LimitedBody:
    """Wraps a push-stream body; passes bytes through until more than ``limit`` were seen.

    :param source: the request body (``StreamBody`` or any ``Body``).
    :param limit: the largest allowed size in bytes.
    :param status: the status of the failure (413, or 417 for ``Expect: 100-continue``).
    """

    __slots__ = ("_source", "_limit", "_status", "_consumer", "seen", "exceeded", "length")

    def __init__(self, source: Any, limit: int, status: int = 413) -> None:
        self._source = source
        self._limit = limit
        self._status = status
        self._consumer: Any = None
        self.seen = 0
        self.exceeded = False
        self.length = source.length

    # Body ---------------------------------------------------------------------
    def start(self, consumer: Any) -> None:
        self._consumer = consumer
        self._source.start(self)

    def pauseProducing(self) -> None:
        self._source.pauseProducing()

    def resumeProducing(self) -> None:
        self._source.resumeProducing()

    def stopProducing(self) -> None:
        self._source.stopProducing()

    # BodyConsumer (fed by the source) -------------------------------------------
    def write(self, data: bytes) -> None:
        if self.exceeded:
            return
        self.seen += len(data)
        if self.seen > self._limit:
            self.exceeded = True
            self._source.stopProducing()
            self._consumer.fail(Failure(RequestSizeExceeded(self._status)))
            return
        self._consumer.write(data)

    def finish(self) -> None:
        if not self.exceeded:
            self._consumer.finish()

    def fail(self, reason: Failure) -> None:
        if not self.exceeded:
            self._consumer.fail(reason)
