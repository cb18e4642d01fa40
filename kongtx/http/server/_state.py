"""The states of a server connection, their transitions, and the reasons reading pauses.

One state machine per connection (``HTTPServerProtocol.state``) says what the
connection does with the bytes it reads; every state and every transition is
named here, and the protocol moves between them by plain attribute assignment
(no call on the hot path). The unit tests check each transition the protocol
takes against :data:`TRANSITIONS`.

The response side needs no states of its own: a connection answers one request
at a time, in order (the protocol's ``active`` exchange); requests read ahead of
it wait in a queue (pipelining).
"""

from __future__ import annotations

#: Between requests: the next bytes start a request head (keep-alive, or a new connection).
IDLE = 0
#: A request head has begun (request line, header fields).
READING_HEAD = 1
#: The head was parsed; its body is arriving (a request without a body passes through).
READING_BODY = 2
#: The request was read whole and is being answered (or waits for the one before it):
#: bytes arriving now belong to the next request and are held unparsed.
RESPONDING = 3
#: The parser stopped at an upgrade request: bytes after it are held for the raw
#: channel until the core answers ``101`` (or refuses and the connection closes).
UPGRADING = 4
#: After ``101``: the connection is a :class:`~kongtx.http.raw_channel.RawChannel`.
UPGRADED = 5
#: The request stream broke (bad framing, too large, body timeout): the parser is
#: gone and an error response waits its turn; the connection closes after it.
FAILED = 6
#: The server closes the connection (after the last response, or aborting).
CLOSING = 7
#: The connection is lost.
CLOSED = 8

STATE_NAMES = (
    "IDLE",
    "READING_HEAD",
    "READING_BODY",
    "RESPONDING",
    "UPGRADING",
    "UPGRADED",
    "FAILED",
    "CLOSING",
    "CLOSED",
)

#: The transitions a connection may take, ``{from: {to, ...}}``. Reading states
#: (IDLE to RESPONDING) go on parsing; a state past RESPONDING never goes back to one.
#: A parser callback running after the connection started closing (llhttp finishes
#: the read it was given) leaves CLOSING and CLOSED as they are.
TRANSITIONS: dict[int, frozenset[int]] = {
    IDLE: frozenset((READING_HEAD, FAILED, CLOSING, CLOSED)),
    READING_HEAD: frozenset((READING_BODY, FAILED, CLOSING, CLOSED)),
    # READING_BODY -> IDLE: the request was answered before its body ended (drained).
    READING_BODY: frozenset((RESPONDING, IDLE, FAILED, CLOSING, CLOSED)),
    # RESPONDING -> READING_HEAD: pipelined requests in the same read.
    RESPONDING: frozenset((IDLE, READING_HEAD, UPGRADING, FAILED, CLOSING, CLOSED)),
    UPGRADING: frozenset((UPGRADED, CLOSING, CLOSED)),
    UPGRADED: frozenset((CLOSED,)),
    FAILED: frozenset((CLOSING, CLOSED)),
    CLOSING: frozenset((CLOSED,)),
    CLOSED: frozenset(),
}


def is_reading(state: int) -> bool:
    """Whether the parser is alive in ``state`` (the connection reads HTTP requests)."""
    return state <= RESPONDING


# Reasons for which reading from the client is paused (a bit mask, beside the state).
PAUSE_BODY = 1  # the body consumer is slow
PAUSE_WAIT = 2  # body bytes are piling up before the core started reading them
PAUSE_PIPELINE = 4  # a response is in progress and the next request is already here
PAUSE_UPGRADE = 8  # waiting for the core to accept or refuse an upgrade
PAUSE_ERROR = 16  # the parser failed; an error response is waiting its turn

# Which timeout the connection's one timer enforces (``HTTPServerProtocol`` arms it).
NO_TIMEOUT, HEADER_TIMEOUT, BODY_TIMEOUT, KEEPALIVE_TIMEOUT = 0, 1, 2, 3
