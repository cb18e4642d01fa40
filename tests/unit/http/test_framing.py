"""The native server's framing and keep-alive decisions, sans-IO."""

from __future__ import annotations

import pytest

from kongtx.http.server import _wire
from kongtx.http.server._framing import (
    CHUNKED,
    CLOSE,
    DRAIN,
    DRAIN_LIMIT,
    LENGTH,
    NEXT,
    NO_BODY,
    READ_SLACK,
    UNTIL_CLOSE,
    Reject,
    after_response,
    body_framed,
    check_head,
    connection_header,
    keeps_alive,
    response_body_mode,
    unfinished_head_error,
)


def test_body_mode() -> None:
    assert response_body_mode(204, "GET", False, None, None) == NO_BODY
    assert response_body_mode(200, "HEAD", False, None, "5") == NO_BODY
    assert response_body_mode(101, "GET", False, None, None) == NO_BODY
    assert response_body_mode(200, "GET", False, "chunked", "5") == CHUNKED
    assert response_body_mode(200, "GET", False, None, "5") == LENGTH
    assert response_body_mode(200, "GET", False, None, None) == CHUNKED
    assert response_body_mode(200, "GET", True, None, None) == UNTIL_CLOSE


def test_keep_alive() -> None:
    base = dict(
        requested=True,
        connection_close=False,
        mode=LENGTH,
        closing=False,
        upgrade_refused=False,
        request_read=True,
    )
    assert keeps_alive(**base)  # type: ignore[arg-type]
    for change in (
        {"requested": False},
        {"connection_close": True},
        {"mode": UNTIL_CLOSE},
        {"closing": True},
        {"upgrade_refused": True},
        {"request_read": False},
    ):
        assert not keeps_alive(**{**base, **change})  # type: ignore[arg-type]


def test_connection_header() -> None:
    assert connection_header(101, False, False, False) is None
    assert connection_header(200, False, False, False) == "Connection: close\r\n"
    assert connection_header(200, False, True, False) is None  # the core said it already
    assert connection_header(200, True, False, True) == "Connection: keep-alive\r\n"
    assert connection_header(200, True, False, False) is None


def test_body_framed() -> None:
    assert body_framed(LENGTH, 0) and body_framed(CHUNKED, -1) and body_framed(NO_BODY, -1)
    assert not body_framed(LENGTH, 3)  # shorter than its Content-Length
    assert not body_framed(LENGTH, -2)  # longer
    assert not body_framed(UNTIL_CLOSE, -1)  # only the close ends it


def test_after_response() -> None:
    # keep_alive, closing, body_unread, body_left, continue_pending
    assert after_response(True, False, False, None, False) == NEXT
    assert after_response(False, False, False, None, False) == CLOSE
    assert after_response(True, True, False, None, False) == CLOSE
    # An unread body: drained when small and announced, else the connection closes.
    assert after_response(True, False, True, 0, False) == DRAIN  # its end is in this read
    assert after_response(True, False, True, DRAIN_LIMIT, False) == DRAIN
    assert after_response(True, False, True, DRAIN_LIMIT + 1, False) == CLOSE
    assert after_response(True, False, True, None, False) == CLOSE  # chunked: unknown size
    assert after_response(True, False, True, 10, True) == CLOSE  # 100-continue never sent
    assert after_response(False, False, True, 10, False) == CLOSE


def test_unfinished_head_error() -> None:
    limit = 100
    assert unfinished_head_error(50, limit, b"GET /x HT", True, "0.0") is None
    assert unfinished_head_error(limit + READ_SLACK, limit, b"aaaa", True, "1.1") is None
    too_big = unfinished_head_error(limit + READ_SLACK + 1, limit, b"aaaa", True, "1.1")
    assert too_big == _wire.HEADER_TOO_LARGE
    # A request line ending without a version (HTTP/0.9) is refused at once.
    assert unfinished_head_error(8, limit, b"GET /x\r\n", True, "0.0") == _wire.BAD_REQUEST
    assert unfinished_head_error(8, limit, b"GET /x\r\n", True, "1.1") is None
    assert unfinished_head_error(2, limit, b"\r\n", False, "0.0") is None


def test_check_head_framing() -> None:
    host = [(b"Host", b"a")]
    assert check_head(host, "1.1", False, "GET", 0) == (None, False, False)
    assert check_head([*host, (b"Content-Length", b"5 ")], "1.1", False, "POST", 0) == (
        5,
        False,
        False,
    )
    chunked = [*host, (b"Transfer-Encoding", b"chunked"), (b"Expect", b"100-continue")]
    assert check_head(chunked, "1.1", False, "POST", 0) == (None, True, True)


@pytest.mark.parametrize(
    ("raw", "version", "upgrade", "method", "limit", "status"),
    [
        ([(b"Host", b"a")], "2.0", False, "GET", 0, 505),
        ([(b"Host", b"a")], "0.9", False, "GET", 0, 400),
        ([], "1.1", False, "GET", 0, 400),  # no Host
        ([(b"Host", b"a"), (b"host", b"b")], "1.1", False, "GET", 0, 400),
        (
            [(b"Host", b"a"), (b"Content-Length", b"1"), (b"Content-Length", b"1")],
            "1.1",
            False,
            "POST",
            0,
            400,
        ),
        (
            [(b"Host", b"a"), (b"Content-Length", b"1"), (b"Transfer-Encoding", b"chunked")],
            "1.1",
            False,
            "POST",
            0,
            400,
        ),
        ([(b"Host", b"a"), (b"Transfer-Encoding", b"gzip")], "1.1", False, "POST", 0, 400),
        ([(b"Transfer-Encoding", b"chunked")], "1.0", False, "POST", 0, 400),
        ([(b"Host", b"a"), (b"Content-Length", b"+1")], "1.1", False, "POST", 0, 400),
        ([(b"Host", b"a")], "1.1", True, "CONNECT", 0, 405),
        ([(b"Host", b"a"), (b"Content-Length", b"3")], "1.1", True, "GET", 0, 400),
        ([(b"Host", b"a"), (b"Content-Length", b"11")], "1.1", False, "POST", 10, 413),
    ],
)
def test_check_head_rejects(
    raw: list[tuple[bytes, bytes]],
    version: str,
    upgrade: bool,
    method: str,
    limit: int,
    status: int,
) -> None:
    with pytest.raises(Reject) as info:
        check_head(raw, version, upgrade, method, limit)
    assert info.value.status == status


def test_status_line_uses_the_standard_line_for_the_standard_reason() -> None:
    from kongtx.http.server._wire import STATUS_LINES, status_line

    assert status_line(200, "OK") is STATUS_LINES[200]
    assert status_line(200, None) is STATUS_LINES[200]
    assert status_line(200, "Fine") == "HTTP/1.1 200 Fine\r\n"
    assert status_line(200, "") == "HTTP/1.1 200 \r\n"
    assert status_line(599, None) == "HTTP/1.1 599 \r\n"
    assert status_line(599, "Odd") == "HTTP/1.1 599 Odd\r\n"
