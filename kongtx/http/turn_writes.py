"""Writes held until the end of the reactor turn, then sent with one ``send()`` per socket.

Twisted's ``transport.write`` buffers the bytes, registers the socket for
writability (an ``epoll_ctl``), sends on the next poll and unregisters it (another
``epoll_ctl``): four system calls and two extra reactor events per proxied
request on top of the two ``send`` calls. :class:`TurnWriter` holds what a
connection writes during one reactor turn (a response head and its first body
bytes, a request head and its body) and sends it with one ``send()`` once the
events of that turn are handled. Only what the socket does not take goes to
Twisted's buffer, which then works as usual (writability, producers paused when
it grows).

Every write of the connection must go through the :class:`TurnWriter` so that
the order of bytes is kept; closing sends what is held first.
"""

from __future__ import annotations

import weakref
from typing import Any, Iterable

from twisted.internet import tcp
from twisted.internet.interfaces import IReactorTime

#: Bytes held per connection before they are sent without waiting for the turn's end.
HOLD_LIMIT = 65536


class TurnFlusher:
    """The connections holding bytes in this reactor turn, flushed by one ``callLater(0)``."""

    __slots__ = ("_clock", "_held", "_call")

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._held: list[TurnWriter] = []
        self._call: Any = None

    def hold(self, writer: TurnWriter) -> None:
        """Flush ``writer`` at the end of this turn."""
        self._held.append(writer)
        if self._call is None:
            self._call = self._clock.callLater(0, self.flush)

    def flush(self) -> None:
        """Send what every held connection wrote."""
        self._call = None
        held, self._held = self._held, []
        for writer in held:
            writer.flush()


class TurnWriter:
    """A TCP transport whose writes are sent once per reactor turn (see the module).

    Everything but the writing and closing methods is the transport's own.
    """

    __slots__ = ("transport", "_flusher", "_held", "_held_size")

    def __init__(self, transport: tcp.Connection, flusher: TurnFlusher) -> None:
        self.transport = transport
        self._flusher = flusher
        self._held: list[bytes] | None = None
        self._held_size = 0

    def write(self, data: bytes) -> None:
        """Hold ``data`` until the end of the turn (past :data:`HOLD_LIMIT`, send now:
        Twisted's buffer then pauses the producers that write in a loop)."""
        if not data:
            return
        held = self._held
        if held is None:
            self._held = [data]
            self._held_size = len(data)
            self._flusher.hold(self)
        else:
            held.append(data)
            self._held_size += len(data)
        if self._held_size > HOLD_LIMIT:
            self.flush()

    def writeSequence(self, data: Iterable[bytes]) -> None:
        """Hold every piece of ``data`` until the end of the turn."""
        for piece in data:
            self.write(piece)

    def flush(self) -> None:
        """Send what is held: straight on the socket when Twisted's buffer is empty,
        through Twisted for what the socket does not take (or when anything waits)."""
        held = self._held
        if held is None:
            return
        self._held = None
        self._held_size = 0
        data = held[0] if len(held) == 1 else b"".join(held)
        transport = self.transport
        if (
            transport.connected
            and not transport.disconnecting
            and not transport.dataBuffer
            and not transport._tempDataBuffer
        ):
            try:
                sent = transport.socket.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                sent = 0  # Twisted's own write path reports the error as a lost connection
            if sent == len(data):
                return
            data = data[sent:]
        transport.write(data)

    def loseConnection(self) -> None:
        """Send what is held, then close once Twisted's buffer is empty."""
        self.flush()
        self.transport.loseConnection()

    def abortConnection(self) -> None:
        """Close now; what is held is dropped."""
        self._held = None
        self._held_size = 0
        self.transport.abortConnection()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


_flushers: weakref.WeakKeyDictionary[Any, TurnFlusher] = weakref.WeakKeyDictionary()


def flusher_for(clock: IReactorTime) -> TurnFlusher:
    """The one :class:`TurnFlusher` of ``clock`` (every connection's held writes go out
    in the same ``callLater(0)``)."""
    flusher = _flushers.get(clock)
    if flusher is None:
        flusher = _flushers[clock] = TurnFlusher(clock)
    return flusher


def turn_writer(transport: Any, flusher: TurnFlusher | None) -> Any:
    """``transport`` with turn writes when it is a plain TCP socket (not TLS, not in
    memory) and there is a ``flusher``; else ``transport`` itself."""
    if (
        flusher is None
        or type(transport) not in (tcp.Server, tcp.Client)
        or getattr(transport, "TLS", False)
    ):
        return transport
    return TurnWriter(transport, flusher)


__all__ = ["TurnFlusher", "TurnWriter", "flusher_for", "turn_writer"]
