"""A TCP (optionally TLS) connection to one log receiver: opened on demand, kept alive, bounded.

:meth:`StreamSender.send` writes a batch and fires once the socket took it; while
the receiver reads slower than kongtx writes (the socket's buffer is full), the
Deferred waits, so the queue in front holds the backlog within its bounds
instead of an ever-growing transport buffer. A batch that cannot be delivered
within ``timeout`` fails (the queue retries it with back-off on a new connection).
"""

from __future__ import annotations

from typing import Any, cast

from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, wrapClientTLS
from twisted.internet.interfaces import IProtocol, IPushProducer, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure
from zope.interface import implementer

from kongtx import tls
from kongtx.schema.typedefs import parse_host

__all__ = ["StreamSender", "client_endpoint"]


def client_endpoint(
    reactor: Any, host: str, port: int, timeout: float, tls_on: bool = False, sni: str | None = None
) -> IStreamClientEndpoint:
    """An endpoint to ``host:port`` (names resolved without blocking), TLS without verification as Kong's log plugins."""
    if _is_ipv4(host):
        endpoint: IStreamClientEndpoint = TCP4ClientEndpoint(reactor, host, port, timeout=timeout)
    else:
        endpoint = HostnameEndpoint(reactor, host.strip("[]").encode("idna"), port, timeout=timeout)
    if tls_on:
        endpoint = wrapClientTLS(tls.upstream_tls_creator(sni or host, verify=False), endpoint)
    return endpoint


def _is_ipv4(host: str) -> bool:
    try:
        kind = parse_host(host)[0]
    except ValueError:
        return False
    return kind == "ipv4"


@implementer(IPushProducer)
class _Connection(Protocol):
    """One connection; tracks whether the transport asked us to stop writing."""

    def __init__(self, sender: StreamSender) -> None:
        self.sender = sender
        self.paused = False
        self.drained: list[Deferred[None]] = []

    def connectionMade(self) -> None:
        # TCP and TLS transports are consumers; the stubs' ``ITransport | None`` does not say.
        self.transport.registerProducer(self, True)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        """Receivers do not answer; anything they send is ignored."""

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        drained, self.drained = self.drained, []
        for d in drained:
            d.callback(None)

    def stopProducing(self) -> None:
        self.paused = True

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.sender.connection_lost(self)
        drained, self.drained = self.drained, []
        for d in drained:
            d.errback(reason)


class StreamSender:
    """Sends batches of bytes over one kept-alive stream connection.

    :param reactor: ``IReactorTime`` (+ ``IReactorTCP``/``IReactorSSL`` through ``endpoint``).
    :param endpoint: where to connect (:func:`client_endpoint`).
    :param timeout: seconds a batch may take (connecting included).
    :param keepalive: seconds an idle connection stays open.
    """

    def __init__(
        self, reactor: Any, endpoint: IStreamClientEndpoint, timeout: float, keepalive: float
    ) -> None:
        self.reactor = reactor
        self.endpoint = endpoint
        self.timeout = timeout
        self.keepalive = keepalive
        self._conn: _Connection | None = None
        self._idle: Any = None
        #: Connections opened so far (tests and stats).
        self.connections = 0

    def send(self, chunks: list[bytes]) -> Deferred[None]:
        """Write ``chunks``; fires when the connection accepted them, fails after ``timeout``."""
        data = b"".join(chunks)
        conn = self._conn
        if conn is not None and not conn.paused:
            return self._write(conn, data)
        d: Deferred[None]
        if conn is not None:
            drained: Deferred[None] = Deferred()
            conn.drained.append(drained)
            d = drained.addCallback(lambda _: self._write(conn, data))
        else:
            connecting = self.endpoint.connect(Factory.forProtocol(lambda: _Connection(self)))
            d = connecting.addCallback(lambda c: self._write(self._connected(c), data))
        d.addTimeout(self.timeout, self.reactor, onTimeoutCancel=self._timed_out)
        return d

    def _timed_out(self, result: Any, timeout: float) -> Any:
        self.abort()
        return result

    def _connected(self, protocol: IProtocol) -> _Connection:
        conn = cast(_Connection, protocol)
        self.connections += 1
        self._conn = conn
        return conn

    def _write(self, conn: _Connection, data: bytes) -> Deferred[None]:
        assert conn.transport is not None  # connected: the endpoint fired with it
        conn.transport.write(data)
        self._touch()
        return succeed(None)

    def _touch(self) -> None:
        if self._idle is not None and self._idle.active():
            self._idle.reset(self.keepalive)
        else:
            self._idle = self.reactor.callLater(self.keepalive, self.close)

    def connection_lost(self, conn: _Connection) -> None:
        """``conn`` closed (the connection calls this): the next batch opens a new one."""
        if self._conn is conn:
            self._conn = None

    def abort(self) -> None:
        """Drop the connection now (a batch timed out)."""
        conn = self._conn
        self._conn = None
        if conn is not None and conn.transport is not None:
            # TCP and TLS transports can abort; the stubs' ITransport cannot.
            conn.transport.abortConnection()  # type: ignore[attr-defined]

    def close(self) -> None:
        """Close the connection after what was written (idle, or the sink is retired)."""
        if self._idle is not None and self._idle.active():
            self._idle.cancel()
        self._idle = None
        conn = self._conn
        self._conn = None
        if conn is not None and conn.transport is not None:
            conn.transport.loseConnection()
