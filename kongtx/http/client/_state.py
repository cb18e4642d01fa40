"""The states of an upstream connection and their transitions.

One state machine per connection (``UpstreamConnection.state``); every state and
transition is named here and taken by plain attribute assignment. The pool reads
``state`` (is the connection idle?) and learns the state a connection was lost
in; the unit tests check each transition against :data:`TRANSITIONS`.

Sending the request and reading the response overlap (an upstream may answer
before the request body is out): how far the request got is the connection's
``request_done``, not a state.
"""

from __future__ import annotations

#: TCP (and TLS) being set up by the pool's connector.
CONNECTING = 0
#: In the pool, waiting for a request (the idle timeout runs).
IDLE = 1
#: A request is going out or out; its response head has not arrived (1xx included).
AWAITING_RESPONSE = 2
#: The response head was handed over; its body is arriving.
RECEIVING = 3
#: After ``101``: the connection is a :class:`~kongtx.http.raw_channel.RawChannel`.
UPGRADED = 4
#: Closed, closing or aborted: nothing more is read or sent.
CLOSED = 5

STATE_NAMES = ("CONNECTING", "IDLE", "AWAITING_RESPONSE", "RECEIVING", "UPGRADED", "CLOSED")

#: The transitions a connection may take, ``{from: {to, ...}}``.
TRANSITIONS: dict[int, frozenset[int]] = {
    CONNECTING: frozenset((AWAITING_RESPONSE, CLOSED)),
    IDLE: frozenset((AWAITING_RESPONSE, CLOSED)),
    AWAITING_RESPONSE: frozenset((RECEIVING, UPGRADED, CLOSED)),
    # RECEIVING -> IDLE: the exchange ended and the connection went back to the pool.
    RECEIVING: frozenset((IDLE, CLOSED)),
    UPGRADED: frozenset((CLOSED,)),
    CLOSED: frozenset(),
}
