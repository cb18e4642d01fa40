"""The server factory: configuration shared by the connections of one listener."""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.internet.protocol import ServerFactory

from kongtx.http.connstats import ConnectionStats
from kongtx.http.gateway_io import GatewayRequest
from kongtx.http.server import _wire
from kongtx.http.server._protocol import HTTPServerProtocol, RequestHandler
from kongtx.http.turn_writes import flusher_for


class HTTPServerFactory(ServerFactory):
    """Builds :class:`HTTPServerProtocol` connections that hand requests to ``handler``.

    :param handler: ``handler(request, writer) -> Deferred | None``, called once per request.
    :param reactor: the clock and scheduler (``IReactorTime``).
    :param scheme: ``"http"`` or ``"https"`` (SNI and TLS version are read on https).
    :param max_header_size: limit of the request line plus header fields, in bytes.
    :param max_headers: limit on the number of header fields.
    :param max_body_size: limit of the request body in bytes (0: none).
    :param header_timeout: seconds to receive a request head.
    :param body_timeout: seconds without request body bytes.
    :param keepalive_timeout: seconds an idle keep-alive connection is kept.
    :param server_header: a ``Server`` value added when the core sets none.
    :param on_request_start: ``callback(request)`` when a request head has been parsed.
    :param stats: connection counters to keep (shared by a node's proxy listeners).
    """

    # The stubs type Factory.protocol as a no-argument callable; buildProtocol passes self.
    protocol = HTTPServerProtocol  # type: ignore[assignment]

    def __init__(
        self,
        handler: RequestHandler,
        reactor: IReactorTime,
        *,
        scheme: str = "http",
        max_header_size: int = 32768,
        max_headers: int = 100,
        max_body_size: int = 0,
        header_timeout: float = 60.0,
        body_timeout: float = 60.0,
        keepalive_timeout: float = 75.0,
        server_header: str | None = None,
        on_request_start: Callable[[GatewayRequest], None] | None = None,
        stats: ConnectionStats | None = None,
    ) -> None:
        self.handler = handler
        self.reactor = reactor
        #: Sends the connections' writes once per reactor turn (:mod:`kongtx.http.turn_writes`).
        self.flusher = flusher_for(reactor)
        self.scheme = scheme
        self.max_header_size = max_header_size
        self.max_headers = max_headers
        self.max_body_size = max_body_size
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.keepalive_timeout = keepalive_timeout
        self.server_line = f"Server: {server_header}\r\n" if server_header else ""
        self.on_request_start = on_request_start
        self.date_cache = _wire.DateCache(reactor)
        self.stats = stats if stats is not None else ConnectionStats()

    def buildProtocol(self, addr: IAddress | None) -> HTTPServerProtocol:
        proto = HTTPServerProtocol(self)
        proto.factory = self
        return proto
