"""Turn writes (kongtx.http.turn_writes) on real TCP sockets on 127.0.0.1."""

from __future__ import annotations

import socket
from typing import Any

import pytest_twisted
from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport

from kongtx.http.turn_writes import HOLD_LIMIT, TurnWriter, flusher_for, turn_writer


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


class _Reader(Protocol):
    """Collects what arrives, each ``dataReceived`` call separately."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.closed: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)

    def connectionLost(self, reason: Any = None) -> None:
        self.closed.callback(None)


async def _pair() -> tuple[Any, _Reader, Any]:
    """A connected (server transport, client reader, listening port) on 127.0.0.1."""
    reactor = _reactor()
    made: Deferred[Any] = Deferred()

    class Server(Protocol):
        def connectionMade(self) -> None:
            made.callback(self.transport)

    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
        Factory.forProtocol(Server)
    )
    reader = _Reader()
    await TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port).connect(
        Factory.forProtocol(lambda: reader)
    )
    transport = await made
    return transport, reader, port


async def _until(reader: _Reader, size: int) -> bytes:
    for _ in range(1000):
        data = b"".join(reader.chunks)
        if len(data) >= size:
            return data
        await task.deferLater(_reactor(), 0.01, lambda: None)
    return b"".join(reader.chunks)


@pytest_twisted.ensureDeferred
async def test_writes_of_one_turn_go_out_together_in_order():
    transport, reader, port = await _pair()
    try:
        out = turn_writer(transport, flusher_for(_reactor()))
        assert isinstance(out, TurnWriter)
        out.write(b"HTTP/1.1 200 OK\r\n")
        out.writeSequence([b"Content-Length: 2\r\n", b"\r\n"])
        out.write(b"ok")
        assert not transport.dataBuffer and not transport._tempDataBuffer  # held, not queued
        data = await _until(reader, 40)
        assert data == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        assert reader.chunks == [data]  # one send, one read
    finally:
        transport.loseConnection()
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_close_sends_what_is_held_first_and_abort_drops_it():
    transport, reader, port = await _pair()
    out = turn_writer(transport, flusher_for(_reactor()))
    out.write(b"last words")
    out.loseConnection()
    await reader.closed
    assert b"".join(reader.chunks) == b"last words"

    transport2, reader2, port2 = await _pair()
    out2 = turn_writer(transport2, flusher_for(_reactor()))
    out2.write(b"never sent")
    out2.abortConnection()
    await reader2.closed
    assert reader2.chunks == []
    await port.stopListening()
    await port2.stopListening()


@pytest_twisted.ensureDeferred
async def test_past_the_hold_limit_bytes_reach_twisted_at_once():
    """A producer writing in a loop sees Twisted's buffer (and its back-pressure) fill."""
    transport, reader, port = await _pair()
    try:
        out = turn_writer(transport, flusher_for(_reactor()))
        # The peer stops reading and the send buffer is small: the socket fills.
        transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        reader.transport.pauseProducing()
        big = b"x" * (HOLD_LIMIT // 4)
        for _ in range(320):  # 5 MiB: more than the socket buffers take
            out.write(big)
        # Nothing waits for the end of the turn beyond one limit's worth of bytes.
        assert out._held_size <= HOLD_LIMIT
        assert transport.dataBuffer or transport._tempDataBuffer  # Twisted queued the rest
        reader.transport.resumeProducing()
        data = await _until(reader, 320 * len(big))
        assert len(data) == 320 * len(big)
    finally:
        transport.loseConnection()
        await port.stopListening()


def test_only_plain_tcp_transports_are_wrapped():
    string = StringTransport()
    assert turn_writer(string, flusher_for(task.Clock())) is string
    assert turn_writer(string, None) is string
