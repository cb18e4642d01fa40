"""The keep-alive connection pool and connection set-up."""

from __future__ import annotations

from typing import Any, Protocol

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.error import TimeoutError as TwistedTimeoutError
from twisted.internet.interfaces import IAddress, IConnector, IDelayedCall
from twisted.internet.protocol import ClientFactory
from twisted.internet.ssl import optionsForClientTLS
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure

from kongtx.http.client._connection import UpstreamConnection
from kongtx.http.client._parsing import DEFAULT_MAX_HEAD_SIZE, DEFAULT_MAX_HEADERS
from kongtx.http.client._state import IDLE
from kongtx.http.client._types import (
    IUpstreamReactor,
    UpstreamAddress,
    UpstreamConnectError,
    UpstreamError,
    UpstreamRequest,
    UpstreamResponse,
    UpstreamTimeout,
)


class RequestHolder(Protocol):
    """Whoever holds a pending request: its connection, or the connector opening one."""

    def cancel_exchange(self, ex: PendingRequest) -> None:
        """The request's Deferred was cancelled."""


class PendingRequest:
    """One request's journey: which connection (or connector) owns it, and its timeouts."""

    __slots__ = (
        "address",
        "connect_timeout",
        "deferred",
        "owner",
        "read_timeout",
        "received",
        "request",
        "request_sent",
        "retried",
        "reused",
        "write_timeout",
    )

    def __init__(
        self,
        request: UpstreamRequest,
        address: UpstreamAddress,
        connect_timeout: float,
        write_timeout: float,
        read_timeout: float,
    ) -> None:
        self.request = request
        self.address = address
        self.connect_timeout = connect_timeout
        self.write_timeout = write_timeout
        self.read_timeout = read_timeout
        self.request_sent = False
        self.received = False
        self.reused = False
        self.retried = False
        self.owner: RequestHolder | None = None
        self.deferred: Deferred[UpstreamResponse] = Deferred(self._cancel)

    def _cancel(self, _: Deferred[UpstreamResponse]) -> None:
        owner = self.owner
        self.owner = None
        if owner is not None:
            owner.cancel_exchange(self)


class _Connector(ClientFactory):
    """Opens one connection for an exchange; the connect timeout covers TCP and TLS."""

    noisy = False

    def __init__(self, pool: UpstreamPool, ex: PendingRequest) -> None:
        self.pool = pool
        self.ex = ex
        self.conn: UpstreamConnection | None = None
        self.tcp: IConnector | None = None
        self.done = False
        ex.owner = self
        self.timer: IDelayedCall | None = pool.reactor.callLater(
            ex.connect_timeout, self._timed_out
        )

    def buildProtocol(self, addr: IAddress | None) -> UpstreamConnection:
        address = self.ex.address
        conn = UpstreamConnection(self.pool, address.key, address.tls)
        conn.connector = self
        conn.factory = self
        self.conn = conn
        return conn

    def ready(self, conn: UpstreamConnection) -> None:
        """The connection is usable (TCP connected, TLS handshake done)."""
        conn.connector = None
        if self.done:
            conn.abort()
            return
        self.done = True
        self._stop_timer()
        self.pool.connector_done(self, conn)
        ex = self.ex
        if ex.owner is self:
            conn.send(ex)
        else:
            conn.close_idle()

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        if reason.check(TwistedTimeoutError):
            self._fail(UpstreamTimeout("connect"), abort=False)
        else:
            self._fail(UpstreamConnectError(f"connection failed: {reason.value}"), abort=False)

    def handshake_failed(self, reason: Failure) -> None:
        """The TLS handshake (or the connection during it) failed."""
        self._fail(UpstreamConnectError(f"TLS handshake failed: {reason.value}"), abort=False)

    def _timed_out(self) -> None:
        self.timer = None
        self._fail(UpstreamTimeout("connect"), abort=True)

    def cancel_exchange(self, ex: PendingRequest) -> None:
        """The request Deferred was cancelled while connecting."""
        self._fail(None, abort=True)

    def abort(self) -> None:
        """Stop connecting (the pool is closing)."""
        self._fail(UpstreamConnectError("upstream pool closed"), abort=True)

    def _stop_timer(self) -> None:
        timer = self.timer
        if timer is not None:
            self.timer = None
            timer.cancel()

    def _fail(self, exc: UpstreamError | None, *, abort: bool) -> None:
        if self.done:
            return
        self.done = True
        self._stop_timer()
        self.pool.connector_done(self, None)
        if abort:
            conn = self.conn
            if conn is not None:
                conn.connector = None
                conn.abort()
            elif self.tcp is not None and getattr(self.tcp, "state", "connecting") == "connecting":
                self.tcp.stopConnecting()
        ex = self.ex
        if ex.owner is self:
            ex.owner = None
        if exc is not None and not ex.deferred.called:
            ex.deferred.errback(exc)


class UpstreamPool:
    """Keep-alive HTTP/1.1 connections to upstreams, keyed by (host, port, tls, server_name, tls_creator).

    :param reactor: the reactor (``IReactorTCP`` and ``IReactorTime``).
    :param pool_size: idle connections kept per key (0 disables keep-alive).
    :param idle_timeout: seconds an idle connection is kept.
    :param max_requests: requests per connection before it is retired.
    :param max_head_size: limit of a response's status line and header fields, in bytes
        (nginx's ``proxy_buffer_size``); a larger head is an ``UpstreamProtocolError``.
    :param max_headers: limit on the number of response header fields.
    """

    def __init__(
        self,
        reactor: IUpstreamReactor,
        pool_size: int = 512,
        idle_timeout: float = 60.0,
        max_requests: int = 10000,
        max_head_size: int = DEFAULT_MAX_HEAD_SIZE,
        max_headers: int = DEFAULT_MAX_HEADERS,
    ) -> None:
        self.reactor = reactor
        self.pool_size = pool_size
        self.idle_timeout = idle_timeout
        self.max_requests = max_requests
        self.max_head_size = max_head_size
        self.max_headers = max_headers
        #: Connections opened so far.
        self.connections_opened = 0
        self._idle: dict[tuple[Any, ...], list[UpstreamConnection]] = {}
        self._connections: set[UpstreamConnection] = set()
        self._connecting: set[_Connector] = set()
        self._tls_creators: dict[str, Any] = {}
        self._closing: list[Deferred[None]] = []

    def request(
        self,
        request: UpstreamRequest,
        address: UpstreamAddress,
        connect_timeout: float = 60.0,
        write_timeout: float = 60.0,
        read_timeout: float = 60.0,
    ) -> Deferred[UpstreamResponse]:
        """Send ``request`` to ``address`` on an idle pooled connection or a new one.

        :returns: a Deferred firing with the :class:`UpstreamResponse` once its
            headers arrived; cancelling it aborts the connection.
        :raises UpstreamConnectError, UpstreamTimeout, UpstreamProtocolError,
            UpstreamClosed: through the Deferred.
        """
        ex = PendingRequest(request, address, connect_timeout, write_timeout, read_timeout)
        idle = self._idle.get(address.key)
        while idle:
            conn = idle.pop()
            if conn.state is IDLE and not conn.output.disconnecting:
                conn.send(ex)
                return ex.deferred
        self.connect(ex)
        return ex.deferred

    def idle_count(self, address: UpstreamAddress) -> int:
        """How many idle connections are pooled for ``address``."""
        return len(self._idle.get(address.key, ()))

    @property
    def open_connections(self) -> int:
        """Connections currently open (idle or busy)."""
        return len(self._connections)

    def close(self) -> Deferred[None]:
        """Close every connection and pending connect.

        :returns: a Deferred firing once every connection has been lost.
        """
        for connector in list(self._connecting):
            connector.abort()
        waits = []
        for conn in list(self._connections):
            lost: Deferred[None] = Deferred()
            conn.closed_waiters.append(lost)
            waits.append(lost)
            conn.shutdown()
        self._idle.clear()
        done: Deferred[Any] = DeferredList(waits)
        return done.addCallback(lambda _: None)

    # the owner interface (ConnectionOwner) and the connectors' --------------------
    def connect(self, ex: PendingRequest) -> None:
        """Open a new connection for ``ex`` (its connector sends ``ex`` once connected)."""
        connector = _Connector(self, ex)
        self._connecting.add(connector)
        address = ex.address
        factory: Any = connector
        if address.tls:
            creator = address.tls_creator
            if creator is None:
                creator = self._default_creator(address.server_name or address.host)
            factory = TLSMemoryBIOFactory(creator, True, connector)
        connector.tcp = self.reactor.connectTCP(
            address.host, address.port, factory, timeout=ex.connect_timeout + 1
        )

    def _default_creator(self, name: str) -> Any:
        creator = self._tls_creators.get(name)
        if creator is None:
            creator = self._tls_creators[name] = optionsForClientTLS(name)
        return creator

    def connector_done(self, connector: _Connector, conn: UpstreamConnection | None) -> None:
        """``connector`` finished: with its connection, or ``None`` when connecting failed."""
        self._connecting.discard(connector)
        if conn is not None:
            self._connections.add(conn)
            self.connections_opened += 1

    def connection_reusable(self, conn: UpstreamConnection) -> None:
        """Keep ``conn`` idle for the next request to its upstream (or close it: pool full)."""
        idle = self._idle.get(conn.key)
        if idle is None:
            idle = self._idle[conn.key] = []
        if len(idle) >= self.pool_size:
            conn.close_idle()
            return
        idle.append(conn)
        conn.idle(self.reactor.seconds())

    def connection_idle_expired(self, conn: UpstreamConnection) -> None:
        """Close ``conn``, idle for too long."""
        self._remove_idle(conn)
        conn.close_idle()

    def _remove_idle(self, conn: UpstreamConnection) -> None:
        idle = self._idle.get(conn.key)
        if idle:
            try:
                idle.remove(conn)
            except ValueError:
                pass
        if idle is not None and not idle:
            # Keys come and go (a new snapshot brings new TLS creators): drop empty lists.
            del self._idle[conn.key]

    def connection_lost(self, conn: UpstreamConnection, state: int) -> None:
        """Forget ``conn`` (closed)."""
        self._connections.discard(conn)
        if state is IDLE:
            self._remove_idle(conn)
