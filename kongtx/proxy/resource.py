"""``GatewayResource``: the gateway as a twisted.web Resource, for embedding in any Site.

twisted.web reads the whole request body (spooling large ones to a temporary
file) before ``render`` runs; the body is then streamed upstream from that
file with back-pressure. Responses stream back through ``Request.write`` with
the client socket as the producer's consumer.
"""
from __future__ import annotations

from typing import IO, Any, Callable

from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.http import HTTPChannel
from twisted.web.server import NOT_DONE_YET, Request, Site
from zope.interface import implementer

from kongtx.http.body import BodyConsumer
from kongtx.http.exchange import GatewayRequest, RawChannel
from kongtx.http.headers import Headers
from kongtx.proxy.core import Gateway

log = Logger()

CHUNK = 65536


@implementer(IPushProducer)
class FileBody:
    """A request body read from twisted.web's content file, chunk by chunk, with back-pressure."""

    def __init__(self, content: IO[bytes], length: int, clock: Any) -> None:
        self.length = length
        self._content = content
        self._clock = clock
        self._consumer: BodyConsumer | None = None
        self._paused = False
        self._done = False
        self._scheduled = False

    def start(self, consumer: BodyConsumer) -> None:
        self._consumer = consumer
        self._content.seek(0)
        self._pump()

    def _pump(self) -> None:
        self._scheduled = False
        consumer = self._consumer
        while consumer is not None and not self._paused and not self._done:
            chunk = self._content.read(CHUNK)
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


class _ResourceWriter:
    """A ``ResponseWriter`` over a twisted.web ``Request``."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.gone = False
        self._callbacks: list[Callable[[], None]] = []
        self._producer = False
        request.notifyFinish().addErrback(self._lost)

    def _lost(self, _: Failure) -> None:
        self.gone = True
        for callback in self._callbacks:
            callback()

    def write_head(self, status: int, headers: Headers, reason: str | None = None) -> None:
        request = self.request
        request.setResponseCode(status, reason.encode("latin-1") if reason else None)
        response_headers = request.responseHeaders
        response_headers.removeHeader(b"server")
        response_headers.removeHeader(b"date")
        for name, value in headers.raw():
            response_headers.addRawHeader(name, value)

    def write(self, data: bytes) -> None:
        if not self.gone:
            self.request.write(data)

    def finish(self) -> None:
        if not self.gone:
            self.request.finish()

    def abort(self) -> None:
        if not self.gone:
            transport = self.request.channel.transport
            if transport is not None:
                transport.abortConnection()

    def register_producer(self, producer: IPushProducer) -> None:
        if not self.gone:
            self.request.registerProducer(producer, True)
            self._producer = True

    def unregister_producer(self) -> None:
        if self._producer and not self.gone:
            self._producer = False
            self.request.unregisterProducer()

    def on_disconnect(self, callback: Callable[[], None]) -> None:
        if self.gone:
            callback()
        else:
            self._callbacks.append(callback)

    def upgrade(self) -> RawChannel:
        raise NotImplementedError("connection upgrades need the native front-end")


class GatewayResource(Resource):
    """Mount the gateway in a twisted.web Site: every request under it is proxied.

    :param gateway: the :class:`~kongtx.proxy.core.Gateway` core.
    :param clock: the reactor.
    """

    isLeaf = True

    def __init__(self, gateway: Gateway, clock: Any) -> None:
        super().__init__()
        self.gateway = gateway
        self.clock = clock

    def render(self, request: Request) -> Any:
        request.defaultContentType = None
        transport = request.channel.transport
        secure = request.isSecure()
        sni = tls_version = None
        if secure:
            handle = getattr(transport, "getHandle", lambda: None)()
            if handle is not None and hasattr(handle, "get_servername"):
                name = handle.get_servername()
                sni = name.decode("ascii") if name else None
                tls_version = handle.get_protocol_version_name()
        peer = request.getClientAddress()
        host = request.getHost()
        content = request.content
        body = None
        if content is not None:
            content.seek(0, 2)
            size = content.tell()
            content.seek(0)
            if size or request.requestHeaders.hasHeader(b"transfer-encoding"):
                body = FileBody(content, size, self.clock)
        raw_headers = [
            (name, value) for name, values in request.requestHeaders.getAllRawHeaders() for value in values
        ]
        gateway_request = GatewayRequest(
            request.method.decode("latin-1"),
            request.uri.decode("latin-1"),
            request.clientproto.decode("latin-1").partition("/")[2] or "1.1",
            Headers.from_raw(raw_headers),
            "https" if secure else "http",
            getattr(peer, "host", ""),
            getattr(peer, "port", 0),
            getattr(host, "port", 0),
            sni,
            body,
            tls_version,
        )
        if body is not None:
            # twisted.web already de-chunked the body: forward it with its real length.
            gateway_request.headers.remove("transfer-encoding")
        self.gateway.handle(gateway_request, _ResourceWriter(request))
        return NOT_DONE_YET


class _LingeringChannel(HTTPChannel):
    """twisted.web's channel, closing politely after a bad request.

    twisted.web answers a malformed request with a 400 and closes at once; when
    the client's bytes are still unread that close turns into a TCP reset that
    can destroy the 400 in flight. Here the rest of the input is drained for a
    moment first (a lingering close, as nginx does).
    """

    def _respondToBadRequestAndDisconnect(self) -> None:
        self._reject(b"Bad request")

    def lineLengthExceeded(self, line: bytes) -> None:
        """A request or header line over the limit: Kong's 494, sent as 400."""
        self._reject(b"Request header or cookie too large")

    def _reject(self, message: bytes) -> None:
        transport = self.transport
        body = message + b"\n"
        transport.write(
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        self.dataReceived = lambda data: None  # type: ignore[method-assign]
        self.setTimeout(None)
        self.callLater(1.0, transport.loseConnection)


class GatewaySite(Site):
    """A twisted.web Site serving :class:`GatewayResource` (quiet, no tracebacks, lingering close)."""

    protocol = _LingeringChannel
    noisy = False
    displayTracebacks = False

    def log(self, request: Request) -> None:
        """Access logging belongs to the log plugins, not to twisted.web."""
