"""The objects a front-end hands to the gateway core.

A front-end (the native server protocol, or ``GatewayResource`` inside a
twisted.web Site) turns a client request into a :class:`GatewayRequest`, wraps
its connection in a :class:`ResponseWriter`, and calls
``gateway.handle(request, writer)``. The core never sees the front-end's own
objects.
"""

from __future__ import annotations

from typing import Callable, Protocol

from twisted.internet.interfaces import IPushProducer

from kongtx.http.body import Body
from kongtx.http.headers import Headers
from kongtx.http.raw_channel import RawChannel


class GatewayRequest:
    """A client request as the gateway core sees it.

    :param method: e.g. ``"GET"``.
    :param target: the raw request-target, ``path[?query]``.
    :param version: ``"1.1"`` or ``"1.0"``.
    :param headers: the request headers (the core and plugins may change them).
    :param scheme: ``"http"`` or ``"https"``.
    :param client_ip: the TCP peer address.
    :param client_port: the TCP peer port.
    :param server_port: the port the request was received on.
    :param sni: the TLS server name, if any.
    :param body: the request body stream, or ``None`` when there is none.
    :param tls_version: e.g. ``"TLSv1.3"`` on TLS connections.
    """

    __slots__ = (
        "method",
        "target",
        "version",
        "headers",
        "scheme",
        "client_ip",
        "client_port",
        "server_port",
        "sni",
        "body",
        "tls_version",
        "keep_alive",
    )

    def __init__(
        self,
        method: str,
        target: str,
        version: str,
        headers: Headers,
        scheme: str,
        client_ip: str,
        client_port: int,
        server_port: int,
        sni: str | None = None,
        body: Body | None = None,
        tls_version: str | None = None,
        keep_alive: bool = True,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.scheme = scheme
        self.client_ip = client_ip
        self.client_port = client_port
        self.server_port = server_port
        self.sni = sni
        self.body = body
        self.tls_version = tls_version
        self.keep_alive = keep_alive

    @property
    def path(self) -> str:
        """The request-target without its query string."""
        target = self.target
        index = target.find("?")
        return target if index < 0 else target[:index]

    @property
    def query(self) -> str | None:
        """The raw query string (without ``?``), or ``None`` when there is no ``?``."""
        target = self.target
        index = target.find("?")
        return None if index < 0 else target[index + 1 :]


class ResponseWriter(Protocol):
    """How the core answers: one response per request, streamed."""

    def write_head(self, status: int, headers: Headers, reason: str | None = None) -> None:
        """Send the status line and headers (framing headers are the writer's job
        when the core leaves them out: Content-Length if given, else chunked)."""

    def write(self, data: bytes) -> None:
        """Send body bytes."""

    def finish(self) -> None:
        """End the response."""

    def abort(self) -> None:
        """Drop the connection (the upstream broke in the middle of the body)."""

    def register_producer(self, producer: IPushProducer) -> None:
        """Let the client socket pause ``producer`` when its buffer fills."""

    def unregister_producer(self) -> None:
        """Undo :meth:`register_producer`."""

    def on_disconnect(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` if the client goes away before :meth:`finish`."""

    def upgrade(self) -> RawChannel:
        """After a 101 response has been written: hand over the client connection as raw bytes."""
