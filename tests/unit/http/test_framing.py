"""The native server's response framing and keep-alive decisions, sans-IO."""

from __future__ import annotations

from kongtx.http.server._framing import (
    CHUNKED,
    LENGTH,
    NO_BODY,
    UNTIL_CLOSE,
    connection_header,
    keeps_alive,
    response_body_mode,
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
