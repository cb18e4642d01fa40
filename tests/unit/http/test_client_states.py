"""The upstream connection's state machine, driven in memory (StringTransport, memory reactor).

``conftest.StateCheckedConnection`` records each state a connection takes and
fails on a transition ``kongtx.http.client._state.TRANSITIONS`` does not name;
these tests pin the path each kind of exchange takes.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.python.failure import Failure

from kongtx.http.body import StreamBody, read_body
from kongtx.http.client import UpstreamClosed, UpstreamProtocolError, UpstreamTimeout
from kongtx.http.client._state import STATE_NAMES, TRANSITIONS
from tests.unit.http.conftest import VIOLATIONS, StateCheckedConnection
from tests.unit.http.test_client import ADDRESS, OK, Env, _failure, _get, _result


def states(conn: Any) -> list[str]:
    assert isinstance(conn, StateCheckedConnection)
    return list(conn.states)


def test_transition_table_names_every_state() -> None:
    assert set(TRANSITIONS) == set(range(len(STATE_NAMES)))
    for targets in TRANSITIONS.values():
        assert targets <= set(TRANSITIONS)


def test_checker_reports_a_transition_not_in_the_table() -> None:
    env = Env()
    env.request()
    conn, _ = env.accept()
    conn.state = 1  # AWAITING_RESPONSE -> IDLE: not allowed
    assert VIOLATIONS == ["AWAITING_RESPONSE -> IDLE in ['CONNECTING', 'AWAITING_RESPONSE']"]
    VIOLATIONS.clear()


def test_keep_alive_exchange_path() -> None:
    env = Env()
    d = env.request()
    conn, _ = env.accept()
    assert states(conn) == ["CONNECTING", "AWAITING_RESPONSE"]
    conn.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
    assert states(conn)[-1] == "RECEIVING"
    body = _result(d).body
    conn.dataReceived(b"cd")
    assert _result(read_body(body)) == b"abcd"
    d = env.request()  # the pooled connection serves the next request
    conn.dataReceived(OK)
    assert _result(read_body(_result(d).body)) == b"ok"
    assert states(conn) == [
        "CONNECTING",
        *["AWAITING_RESPONSE", "RECEIVING", "IDLE"] * 2,
    ]
    assert env.pool.idle_count(ADDRESS) == 1


def test_interim_response_stays_awaiting() -> None:
    env = Env()
    d = env.request()
    conn, _ = env.accept()
    conn.dataReceived(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
    assert states(conn)[-1] == "AWAITING_RESPONSE" and not d.called
    conn.dataReceived(OK)
    assert _result(d).status == 200 and states(conn)[-2:] == ["RECEIVING", "IDLE"]


def test_head_response_path() -> None:
    env = Env()
    d = env.request(_get(method="HEAD"))
    conn, _ = env.accept()
    conn.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")
    assert _result(d).status == 200
    assert states(conn) == ["CONNECTING", "AWAITING_RESPONSE", "RECEIVING", "IDLE"]


def test_not_reusable_response_closes() -> None:
    env = Env()
    d = env.request()
    conn, transport = env.accept()
    conn.dataReceived(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
    assert _result(d).status == 200
    assert states(conn)[-2:] == ["RECEIVING", "CLOSED"] and transport.disconnecting


def test_upgrade_path() -> None:
    env = Env()
    d = env.request(_get("/ws", Upgrade="websocket", Connection="Upgrade"))
    conn, _ = env.accept()
    conn.dataReceived(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nx"
    )
    assert _result(d).upgraded is not None
    conn.connectionLost(Failure(ConnectionDone()))
    assert states(conn) == ["CONNECTING", "AWAITING_RESPONSE", "UPGRADED", "CLOSED"]


def test_upgraded_read_timeout_aborts() -> None:
    env = Env()
    d = env.request(_get("/ws", Upgrade="websocket", Connection="Upgrade"), read_timeout=5.0)
    conn, transport = env.accept()
    conn.dataReceived(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    assert _result(d).upgraded is not None
    env.reactor.advance(6)
    assert states(conn)[-2:] == ["UPGRADED", "CLOSED"] and transport.disconnected


def test_protocol_error_while_awaiting_closes() -> None:
    env = Env()
    d = env.request()
    conn, transport = env.accept()
    conn.dataReceived(b"NOT HTTP\r\n\r\n")
    _failure(d, UpstreamProtocolError)
    assert states(conn)[-2:] == ["AWAITING_RESPONSE", "CLOSED"] and transport.disconnected


def test_read_timeout_while_receiving_closes() -> None:
    env = Env()
    d = env.request(read_timeout=5.0)
    conn, _ = env.accept()
    conn.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
    body: StreamBody = _result(d).body
    reading = read_body(body)
    env.reactor.advance(6)
    _failure(reading, UpstreamTimeout)
    assert states(conn)[-2:] == ["RECEIVING", "CLOSED"]


def test_lost_while_receiving_fails_the_body() -> None:
    env = Env()
    d = env.request()
    conn, _ = env.accept()
    conn.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
    reading = read_body(_result(d).body)
    conn.connectionLost(Failure(ConnectionLost()))
    _failure(reading, UpstreamClosed)
    assert states(conn)[-2:] == ["RECEIVING", "CLOSED"]


def test_connect_abandoned_after_timeout_aborts_the_late_connection() -> None:
    env = Env()
    d = env.request(connect_timeout=1.0)
    env.reactor.advance(1.1)
    _failure(d, UpstreamTimeout)
    conn, transport = env.accept()  # connected after all: dropped at once
    assert states(conn) == ["CONNECTING", "CLOSED"] and transport.disconnected


def test_idle_timeout_closes_from_idle() -> None:
    env = Env(idle_timeout=5.0)
    d = env.request()
    conn, transport = env.accept()
    conn.dataReceived(OK)
    _result(d)
    env.reactor.advance(6)
    assert states(conn)[-2:] == ["IDLE", "CLOSED"] and transport.disconnecting
    assert env.pool.idle_count(ADDRESS) == 0


def test_body_stopped_inside_a_read_stays_closed() -> None:
    """The consumer gives up on the body while llhttp parses a read that also holds
    another response: the rest of that read leaves CLOSED as it is."""
    env = Env()
    d = env.request()
    conn, transport = env.accept()
    conn.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
    body: StreamBody = _result(d).body

    class Stopper:
        def write(self, data: bytes) -> None:
            body.stopProducing()

        def finish(self) -> None:
            pass

        def fail(self, reason: Failure) -> None:
            pass

    body.start(Stopper())
    conn.dataReceived(b"abcd" + OK)
    assert states(conn)[-2:] == ["RECEIVING", "CLOSED"] and transport.disconnected
    assert env.pool.idle_count(ADDRESS) == 0
