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
"""

from __future__ import annotations

__all__ = ["CLOSED", "READING", "WAITING", "WRITING", "ConnectionStats"]

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

    def snapshot(self) -> dict[str, int]:
        """Kong's ``/status`` ``server`` block."""
        return {
            "total_requests": self.total_requests,
            "connections_active": self.active,
            "connections_accepted": self.accepted,
            "connections_handled": self.handled,
            "connections_reading": self.reading,
            "connections_writing": self.writing,
            "connections_waiting": self.waiting,
        }
