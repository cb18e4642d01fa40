"""Real log receivers on 127.0.0.1 (port 0) for the log plugins' tests.

* :func:`start_tcp_receiver`: lines over TCP (optionally TLS, recording the SNI);
* :func:`start_udp_receiver`: datagrams (also a Unix datagram socket, for syslog);
* :func:`start_http_collector`: an HTTP(S) collector that can fail a number of
  requests first, or hang.

Each keeps what it received and fires :meth:`Received.wait_for` Deferreds when
``n`` items have arrived.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

WAIT = 10.0


class Received:
    """Items received so far, and waiters for a count."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._waiters: list[tuple[int, Deferred[list[Any]]]] = []

    def add(self, item: Any) -> None:
        self.items.append(item)
        ready = [(n, d) for n, d in self._waiters if len(self.items) >= n]
        self._waiters = [(n, d) for n, d in self._waiters if len(self.items) < n]
        for _, d in ready:
            d.callback(list(self.items))

    def wait_for(self, count: int, timeout: float = WAIT) -> Deferred[list[Any]]:
        """Fires with the items once ``count`` have arrived (fails after ``timeout`` s)."""
        d: Deferred[list[Any]] = Deferred()
        if len(self.items) >= count:
            d.callback(list(self.items))
            return d
        self._waiters.append((count, d))
        d.addTimeout(timeout, reactor)
        return d


class _Lines(Protocol):
    def __init__(self, received: Received, connections: list[Any]) -> None:
        self.received = received
        self.buffer = b""
        connections.append(self)

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            self.received.add(line)


class Listener(Received):
    """A started receiver: ``port``, received items, ``stop()``."""

    def __init__(self) -> None:
        super().__init__()
        self.listening: Any = None
        self.connections: list[Any] = []

    @property
    def port(self) -> int:
        return self.listening.getHost().port  # type: ignore[no-any-return]

    async def stop(self) -> None:
        for conn in self.connections:
            if conn.transport is not None:
                conn.transport.abortConnection()
        await self.listening.stopListening()


async def start_tcp_receiver(tls_context: Any = None) -> Listener:
    """Lines over TCP; with ``tls_context`` (an ``IOpenSSLServerConnectionCreator``) over TLS."""
    rx = Listener()
    factory = Factory.forProtocol(lambda: _Lines(rx, rx.connections))
    if tls_context is not None:
        rx.listening = reactor.listenSSL(0, factory, tls_context, interface="127.0.0.1")
    else:
        rx.listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
    return rx


class _Datagrams(DatagramProtocol):
    def __init__(self, received: Received) -> None:
        self.received = received

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.add(datagram)


async def start_udp_receiver() -> Listener:
    """Datagrams on 127.0.0.1."""
    rx = Listener()
    rx.listening = reactor.listenUDP(0, _Datagrams(rx), interface="127.0.0.1")
    return rx


async def start_unix_datagram_receiver(path: str) -> Listener:
    """Datagrams on a Unix socket at ``path`` (standing in for ``/dev/log``)."""
    rx = Listener()
    rx.listening = reactor.listenUNIXDatagram(path, _Datagrams(rx))
    return rx


class _Collector(Resource):
    isLeaf = True

    def __init__(self, collector: HTTPCollector) -> None:
        super().__init__()
        self.collector = collector

    def render(self, request: Any) -> Any:
        c = self.collector
        body = request.content.read()
        headers = {
            k.decode().lower(): v[0].decode() for k, v in request.requestHeaders.getAllRawHeaders()
        }
        c.attempts += 1
        if c.hang:
            c.hung.append(request)
            return NOT_DONE_YET
        if c.fail_first > 0:
            c.fail_first -= 1
            request.setResponseCode(c.fail_status)
            return b"collector down"
        c.add(
            {
                "method": request.method.decode(),
                "path": request.path.decode(),
                "headers": headers,
                "body": body,
            }
        )
        return b"ok"


class HTTPCollector(Listener):
    """An HTTP collector: ``items`` are ``{method, path, headers, body}``; ``fail_first``
    requests are answered ``fail_status`` (500) first; ``hang`` leaves requests unanswered."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_first = 0
        self.fail_status = 500
        self.attempts = 0
        self.hang = False
        self.hung: list[Any] = []

    async def stop(self) -> None:
        for request in self.hung:
            if not request.finished and request.channel is not None:
                request.channel.transport.abortConnection()
        await self.listening.stopListening()


async def start_http_collector(tls_context: Any = None) -> HTTPCollector:
    """An HTTP (or, with ``tls_context``, HTTPS) collector on 127.0.0.1."""
    rx = HTTPCollector()
    site = Site(_Collector(rx))
    site.noisy = False
    if tls_context is not None:
        rx.listening = reactor.listenSSL(0, site, tls_context, interface="127.0.0.1")
    else:
        rx.listening = reactor.listenTCP(0, site, interface="127.0.0.1")
    return rx
