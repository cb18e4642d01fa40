"""Client connection and request counters of the proxy listeners, kept as nginx's
``stub_status`` keeps them: Kong's ``/status`` ``server`` block.

Each connection is in one state at a time: ``READING`` (a request head is
arriving), ``WRITING`` (a request is being processed: body, upstream,
response) or ``WAITING`` (idle: before its first request or between
keep-alive requests). A front-end calls :meth:`ConnectionStats.opened` when a
connection is accepted, :meth:`~ConnectionStats.request_begins` when a
request's first byte arrives, :meth:`~ConnectionStats.move` on the other
changes and :meth:`~ConnectionStats.closed` when it goes away, keeping the
returned state. Readers use the attributes or :meth:`~ConnectionStats.snapshot`.

With worker processes each process keeps its own; :class:`StatsBoard` is a
small shared file where the children publish theirs for worker 0 to add up
(``GatewayNode.server_stats()``), as nginx's counters cover all its workers.
"""

from __future__ import annotations

import mmap
import os
import struct

__all__ = ["CLOSED", "READING", "WAITING", "WRITING", "ConnectionStats", "StatsBoard"]

READING, WRITING, WAITING, CLOSED = 0, 1, 2, 3


class ConnectionStats:
    """Counters shared by the listeners of one node (plain ints; single-threaded reactor).

    :ivar accepted: connections accepted since start.
    :ivar handled: connections handled since start (equal to ``accepted``: none is refused).
    :ivar total_requests: requests begun since start.
    """

    __slots__ = ("_current", "accepted", "handled", "total_requests")

    def __init__(self) -> None:
        self.accepted = 0
        self.handled = 0
        self.total_requests = 0
        self._current = [0, 0, 0, 0]  # by state; CLOSED's slot is never read

    # -- front-end side --------------------------------------------------------------
    def opened(self) -> int:
        """Count an accepted connection; returns its state (``WAITING``)."""
        self.accepted += 1
        self.handled += 1
        self._current[WAITING] += 1
        return WAITING

    def move(self, state: int, new: int) -> int:
        """Move a connection from ``state`` to ``new``; returns ``new`` (closed ones stay closed)."""
        if state in (CLOSED, new):
            return state
        current = self._current
        current[state] -= 1
        current[new] += 1
        return new

    def request_begins(self, state: int) -> int:
        """Count a request whose first byte arrived; an idle connection starts ``READING``."""
        self.total_requests += 1
        return self.move(state, READING) if state == WAITING else state

    def closed(self, state: int) -> int:
        """Forget a connection in ``state``; returns ``CLOSED`` (idempotent)."""
        if state != CLOSED:
            self._current[state] -= 1
        return CLOSED

    # -- readers -----------------------------------------------------------------------
    @property
    def reading(self) -> int:
        """Connections reading a request head."""
        return self._current[READING]

    @property
    def writing(self) -> int:
        """Connections processing a request or writing its response."""
        return self._current[WRITING]

    @property
    def waiting(self) -> int:
        """Idle connections."""
        return self._current[WAITING]

    @property
    def active(self) -> int:
        """Open connections (reading + writing + waiting)."""
        current = self._current
        return current[READING] + current[WRITING] + current[WAITING]

    def values(self) -> tuple[int, int, int, int, int, int]:
        """``(accepted, handled, total_requests, reading, writing, waiting)``."""
        current = self._current
        return (
            self.accepted,
            self.handled,
            self.total_requests,
            current[READING],
            current[WRITING],
            current[WAITING],
        )

    def snapshot(self, *others: tuple[int, ...]) -> dict[str, int]:
        """Kong's ``/status`` ``server`` block, adding ``others`` (:meth:`values` of other processes)."""
        sums = [sum(column) for column in zip(self.values(), *others)]
        accepted, handled, total, reading, writing, waiting = sums
        return {
            "total_requests": total,
            "connections_active": reading + writing + waiting,
            "connections_accepted": accepted,
            "connections_handled": handled,
            "connections_reading": reading,
            "connections_writing": writing,
            "connections_waiting": waiting,
        }


_SLOT = struct.Struct("<6q")


class StatsBoard:
    """One slot of :meth:`ConnectionStats.values` per worker process, in a shared file.

    Worker 0 creates it (:meth:`create`) and reads the others' slots; worker
    ``i`` :meth:`open`-s it, continues the cumulative counters its slot holds
    (a restarted worker does not reset them) and :meth:`publish`-es its own
    values now and then.
    """

    def __init__(self, path: str, slots: int, *, create: bool) -> None:
        self.path = path
        self.slots = slots
        size = _SLOT.size * slots
        flags = os.O_RDWR | (os.O_CREAT | os.O_TRUNC if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)

    @classmethod
    def create(cls, path: str, slots: int) -> StatsBoard:
        """A zeroed board for ``slots`` workers."""
        return cls(path, slots, create=True)

    @classmethod
    def open(cls, path: str, slots: int) -> StatsBoard:
        """The board worker 0 created."""
        return cls(path, slots, create=False)

    def read(self, index: int) -> tuple[int, ...]:
        """Worker ``index``'s last published values."""
        return tuple(_SLOT.unpack_from(self._map, index * _SLOT.size))

    def publish(self, index: int, stats: ConnectionStats) -> None:
        """Write ``stats`` into worker ``index``'s slot."""
        _SLOT.pack_into(self._map, index * _SLOT.size, *stats.values())

    def resume(self, index: int, stats: ConnectionStats) -> None:
        """Continue the cumulative counters of slot ``index`` (a restarted worker)."""
        accepted, handled, total, _, _, _ = self.read(index)
        stats.accepted += accepted
        stats.handled += handled
        stats.total_requests += total

    def clear_gauges(self, index: int) -> None:
        """Forget slot ``index``'s open connections (its process ended)."""
        accepted, handled, total, _, _, _ = self.read(index)
        _SLOT.pack_into(self._map, index * _SLOT.size, accepted, handled, total, 0, 0, 0)

    def others(self, index: int = 0) -> list[tuple[int, ...]]:
        """Every slot but ``index``'s."""
        return [self.read(i) for i in range(self.slots) if i != index]

    def close(self) -> None:
        """Unmap the file."""
        self._map.close()
