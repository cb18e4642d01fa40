"""``GatewayResource``: the gateway as a twisted.web Resource, for embedding in any Site.

twisted.web reads the whole request body (spooling large ones to a temporary
file) before ``render`` runs; the body is then streamed upstream from that
file with back-pressure. Responses stream back through ``Request.write`` with
the client socket as the producer's consumer.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from kongtx.http.body import FileBody
from kongtx.http.connstats import CLOSED, WAITING, WRITING, ConnectionStats
from kongtx.http.gateway_io import GatewayRequest
from kongtx.http.headers import Headers
from kongtx.http.raw_channel import RawChannel
from kongtx.http.webchannel import GuardedChannel, LimitedRequest
from kongtx.proxy.gateway import Gateway

log = Logger()


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
        if status == 101:
            # twisted.web would frame a 101 like a body-carrying response: write it raw.
            transport = request.channel.transport
            assert transport is not None  # the request is in flight on a connection
            transport.write(
                b"HTTP/1.1 101 %s\r\n%s\r\n"
                % ((reason or "Switching Protocols").encode("latin-1"), headers.to_wire())
            )
            return
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
        """Close after what was already written: the client sees a truncated response."""
        if not self.gone:
            self.gone = True
            transport = self.request.channel.transport
            if transport is not None:
                transport.loseConnection()

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
        """Take the connection away from twisted.web (the 101 head is already written)."""
        channel = self.request.channel
        channel.setTimeout(None)
        # A TCP transport or a TLSMemoryBIOProtocol: both are producers and carry the
        # protocol they deliver to, which the stubs' ``ITransport | None`` does not say.
        transport: Any = channel.transport
        raw = RawChannel(transport)
        # twisted.web registered itself as the socket's producer and paused reading
        # while the request was in flight: take both back.
        transport.unregisterProducer()
        # Whatever the transport (TCP, or TLS through TLSMemoryBIOProtocol), bytes are
        # delivered to the protocol object it points at: point it at ours.
        receiver = _RawProtocol(raw)
        receiver.transport = transport
        if hasattr(transport, "wrappedProtocol"):
            transport.wrappedProtocol = receiver
        else:
            transport.protocol = receiver
        transport.resumeProducing()
        self.gone = True
        return raw


class _RawProtocol(Protocol):
    """Takes over a twisted.web connection after a 101: its bytes go to a :class:`RawChannel`."""

    def __init__(self, channel: RawChannel) -> None:
        self.channel = channel

    def dataReceived(self, data: bytes) -> None:
        self.channel.data_received(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.channel.connection_lost()


class GatewayResource(Resource):
    """Mount the gateway in a twisted.web Site: every request under it is proxied.

    :param gateway: the :class:`~kongtx.proxy.gateway.Gateway` core.
    :param clock: the reactor.
    """

    isLeaf = True

    def __init__(self, gateway: Gateway, clock: IReactorTime, max_body_size: int = 0) -> None:
        super().__init__()
        self.gateway = gateway
        self.clock = clock
        self.max_body_size = max_body_size

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
            (name, value)
            for name, values in request.requestHeaders.getAllRawHeaders()
            for value in values
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
        writer = _ResourceWriter(request)
        if body is not None:
            if self.max_body_size and body.length > self.max_body_size:
                self.gateway.reject(gateway_request, writer, 413)
                return NOT_DONE_YET
            # twisted.web already de-chunked the body: forward it with its real length.
            gateway_request.headers.remove("transfer-encoding")
        self.gateway.handle(gateway_request, writer)
        return NOT_DONE_YET


class _CountedChannel(GuardedChannel):
    """The guarded channel, keeping its connection's state in the site's :class:`ConnectionStats`."""

    _conn_state = CLOSED

    def _stats(self) -> ConnectionStats:
        return self.site.stats

    def connectionMade(self) -> None:
        super().connectionMade()
        self._conn_state = self._stats().opened()

    def lineReceived(self, line: bytes) -> None:
        if self._conn_state == WAITING and line:  # a request line (not IE's stray CRLF)
            self._conn_state = self._stats().request_begins(WAITING)
        super().lineReceived(line)

    def allHeadersReceived(self) -> None:
        self._conn_state = self._stats().move(self._conn_state, WRITING)
        super().allHeadersReceived()

    def requestDone(self, request: Request) -> None:
        self._conn_state = self._stats().move(self._conn_state, WAITING)
        super().requestDone(request)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._conn_state = self._stats().closed(self._conn_state)
        super().connectionLost(reason)


class GatewaySite(Site):
    """A twisted.web Site serving :class:`GatewayResource` (quiet, no tracebacks, nginx's guards)."""

    # HTTPFactory types ``protocol`` as its generic channel factory; any HTTPChannel
    # class builds a channel the same way.
    protocol = _CountedChannel  # type: ignore[assignment]
    requestFactory = LimitedRequest
    noisy = False
    displayTracebacks = False

    def __init__(
        self, resource: Resource, *args: Any, stats: ConnectionStats | None = None, **kwargs: Any
    ) -> None:
        super().__init__(resource, *args, **kwargs)
        self.stats = stats if stats is not None else ConnectionStats()

    def log(self, request: http.Request) -> None:
        """Access logging belongs to the log plugins, not to twisted.web."""
