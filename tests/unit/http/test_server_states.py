"""The server connection's state machine, driven in memory (StringTransport, Clock).

``conftest.StateCheckedProtocol`` records each state a connection takes and fails
on a transition ``kongtx.http.server._state.TRANSITIONS`` does not name; these
tests pin the path each kind of exchange takes.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from kongtx.http.headers import Headers
from kongtx.http.server._state import STATE_NAMES, TRANSITIONS
from tests.unit.http.conftest import VIOLATIONS, StateCheckedProtocol
from tests.unit.http.test_server import GET, Recorder, Sink, answer, connect, parse_responses

POST = b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"
UPGRADE = b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"


def states(proto: Any) -> list[str]:
    assert isinstance(proto, StateCheckedProtocol)
    return list(proto.states)


def test_transition_table_names_every_state() -> None:
    assert set(TRANSITIONS) == set(range(len(STATE_NAMES)))
    for targets in TRANSITIONS.values():
        assert targets <= set(TRANSITIONS)


def test_checker_reports_a_transition_not_in_the_table() -> None:
    proto, _, _ = connect(Recorder())
    proto.state = 5  # IDLE -> UPGRADED: not allowed
    assert VIOLATIONS == ["IDLE -> UPGRADED in ['IDLE']"]
    VIOLATIONS.clear()


def test_keep_alive_request_path() -> None:
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(GET)
    assert states(proto) == ["IDLE", "READING_HEAD", "READING_BODY", "RESPONDING"]
    proto.dataReceived(GET)  # the next request while answering: held, not parsed
    assert len(rec.calls) == 1 and proto.state == 3
    answer(rec.calls[0][1])
    # The held request is parsed as soon as the first is answered.
    assert len(rec.calls) == 2
    answer(rec.calls[1][1])
    assert states(proto)[-4:] == ["READING_HEAD", "READING_BODY", "RESPONDING", "IDLE"]
    assert [r.status for r in parse_responses(transport.value())] == [200, 200]
    assert not transport.disconnecting and not proto.closing


def test_body_across_reads_answered_after_it() -> None:
    rec = Recorder()
    proto, _, _ = connect(rec)
    proto.dataReceived(POST + b"12345")
    request, writer = rec.calls[0]
    assert proto.state == 2  # READING_BODY, the handler already has the request
    sink = Sink()
    request.body.start(sink)
    proto.dataReceived(b"67890")
    assert sink.finished and proto.state == 3
    answer(writer)
    assert states(proto) == ["IDLE", "READING_HEAD", "READING_BODY", "RESPONDING", "IDLE"]


def test_early_answer_drains_the_body_then_idles() -> None:
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(POST + b"123")
    answer(rec.calls[0][1], status=401)
    assert proto.state == 2  # still reading (dropping) the body
    proto.dataReceived(b"4567890")
    assert states(proto) == ["IDLE", "READING_HEAD", "READING_BODY", "IDLE"]
    assert not transport.disconnecting


def test_pipelined_requests_in_one_read() -> None:
    rec = Recorder()
    proto, _, _ = connect(rec)
    proto.dataReceived(GET + GET)
    path = ["READING_HEAD", "READING_BODY", "RESPONDING"]
    assert states(proto) == ["IDLE", *path, *path]
    answer(rec.calls[0][1])
    answer(rec.calls[1][1])
    assert states(proto)[-1] == "IDLE"


def test_bad_request_fails_then_closes() -> None:
    proto, transport, _ = connect(Recorder())
    proto.dataReceived(b"GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n")
    assert states(proto) == ["IDLE", "READING_HEAD", "FAILED", "CLOSING"]
    assert parse_responses(transport.value())[0].status == 400 and transport.disconnecting
    proto.dataReceived(GET)  # nothing more is read
    proto.connectionLost(Failure(ConnectionDone()))
    assert states(proto)[-1] == "CLOSED" and proto.lost


def test_bad_request_after_one_being_answered_waits_its_turn() -> None:
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(GET + b"BAD\r\n\r\n")
    assert proto.state == 6 and not transport.disconnecting  # FAILED, error pending
    answer(rec.calls[0][1])
    assert [r.status for r in parse_responses(transport.value())] == [200, 400]
    assert states(proto)[-2:] == ["FAILED", "CLOSING"]


def test_body_timeout_fails_with_408() -> None:
    rec = Recorder()
    proto, transport, clock = connect(rec, body_timeout=5.0)
    proto.dataReceived(POST + b"12")
    clock.advance(6)
    assert states(proto)[-2:] == ["FAILED", "CLOSING"]
    assert parse_responses(transport.value())[0].status == 408


def test_keepalive_timeout_closes_from_idle() -> None:
    rec = Recorder()
    proto, transport, clock = connect(rec, keepalive_timeout=5.0)
    proto.dataReceived(GET)
    answer(rec.calls[0][1])
    clock.advance(6)
    assert states(proto)[-2:] == ["IDLE", "CLOSING"] and transport.disconnecting


def test_upgrade_path() -> None:
    rec = Recorder()
    proto, _, _ = connect(rec)
    proto.dataReceived(UPGRADE + b"EARLY")
    assert states(proto)[-2:] == ["RESPONDING", "UPGRADING"]
    writer = rec.calls[0][1]
    writer.write_head(101, Headers([("Connection", "Upgrade"), ("Upgrade", "websocket")]))
    channel = writer.upgrade()
    got: list[bytes] = []
    channel.set_receiver(got.append, lambda: None)
    proto.dataReceived(b"LATE")
    assert got == [b"EARLY", b"LATE"]
    proto.connectionLost(Failure(ConnectionDone()))
    assert states(proto)[-3:] == ["UPGRADING", "UPGRADED", "CLOSED"]


def test_upgrade_refused_closes() -> None:
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(UPGRADE)
    answer(rec.calls[0][1], status=400)
    assert states(proto)[-2:] == ["UPGRADING", "CLOSING"] and transport.disconnecting


def test_close_inside_a_read_stays_closing() -> None:
    """The response is aborted while llhttp is still parsing the read that carried its
    body: the rest of that read (message end, a pipelined head) leaves CLOSING as it is."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(POST + b"12345")
    request, writer = rec.calls[0]

    class AbortingSink(Sink):
        def write(self, data: bytes) -> None:
            super().write(data)
            if data == b"67890":  # inside the parser's feed of the second read
                writer.abort()

    sink = AbortingSink()
    request.body.start(sink)
    assert proto.state == 2
    proto.dataReceived(b"67890" + GET)
    assert sink.data == [b"12345", b"67890"]
    assert proto.closing and states(proto)[-1] == "CLOSING"
    assert len(rec.calls) == 1 and transport.disconnecting
