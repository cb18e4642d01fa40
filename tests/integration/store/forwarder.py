"""A TCP forwarder the tests can cut, black-hole and restore (PostgreSQL outage without stopping it)."""

from __future__ import annotations

from typing import Any

from twisted.internet import protocol
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint


class _Upstream(protocol.Protocol):
    def __init__(self, downstream: _Downstream) -> None:
        self.downstream = downstream

    def connectionMade(self) -> None:
        self.downstream.upstream_ready(self)

    def dataReceived(self, data: bytes) -> None:
        if self.downstream.forwarder.mode == "open":
            self.downstream.transport.write(data)

    def connectionLost(self, reason: Any) -> None:
        self.downstream.transport.loseConnection()


class _Downstream(protocol.Protocol):
    def __init__(self, forwarder: Forwarder) -> None:
        self.forwarder = forwarder
        self.upstream: _Upstream | None = None
        self.buffer: list[bytes] = []

    def connectionMade(self) -> None:
        fw = self.forwarder
        if fw.mode == "cut":
            self.transport.abortConnection()
            return
        fw.connections.add(self)
        if fw.mode == "blackhole":
            return
        self.transport.pauseProducing()
        d = TCP4ClientEndpoint(fw.reactor, fw.target_host, fw.target_port).connect(
            protocol.Factory.forProtocol(lambda: _Upstream(self))
        )
        d.addErrback(lambda _: self.transport.abortConnection())

    def upstream_ready(self, upstream: _Upstream) -> None:
        self.upstream = upstream
        for chunk in self.buffer:
            upstream.transport.write(chunk)
        self.buffer.clear()
        self.transport.resumeProducing()

    def dataReceived(self, data: bytes) -> None:
        if self.forwarder.mode != "open":
            return  # black hole: swallow
        if self.upstream is None:
            self.buffer.append(data)
        else:
            self.upstream.transport.write(data)

    def connectionLost(self, reason: Any) -> None:
        self.forwarder.connections.discard(self)
        if self.upstream is not None:
            self.upstream.transport.loseConnection()

    def abort(self) -> None:
        self.transport.abortConnection()
        if self.upstream is not None:
            self.upstream.transport.abortConnection()


class Forwarder:
    """Listen on 127.0.0.1:<port>, relay to ``target``.

    ``cut()`` drops every connection and resets new ones; ``blackhole()``
    accepts but never answers (and freezes open connections);
    ``restore()`` forwards again.
    """

    def __init__(self, reactor: Any, target_host: str, target_port: int) -> None:
        self.reactor = reactor
        self.target_host = target_host
        self.target_port = target_port
        self.mode = "open"
        self.connections: set[_Downstream] = set()
        self.port: Any = None

    async def start(self) -> int:
        """Start listening; returns the port."""
        factory = protocol.Factory.forProtocol(lambda: _Downstream(self))
        self.port = await TCP4ServerEndpoint(self.reactor, 0, interface="127.0.0.1").listen(factory)
        return int(self.port.getHost().port)

    def cut(self) -> None:
        """Close every connection and refuse new ones."""
        self.mode = "cut"
        for conn in list(self.connections):
            conn.abort()

    def blackhole(self) -> None:
        """Stop relaying: calls hang until the client gives up."""
        self.mode = "blackhole"

    def restore(self) -> None:
        """Forward again (new connections only after a cut)."""
        self.mode = "open"

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        self.cut()
        if self.port is not None:
            await self.port.stopListening()
