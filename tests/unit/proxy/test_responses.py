"""Error body negotiation as Kong's ``get_response_type`` / ``error_handlers.lua`` do it."""

from __future__ import annotations

import pytest

from kongtx.http.headers import Headers
from kongtx.proxy.responses import (
    HTML,
    JSON,
    PLAIN,
    XML,
    negotiate,
    render_nginx_error,
    response_type,
)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("image/png", JSON),
        ("application/x-unknown", JSON),
        ("text/*", PLAIN),
        ("application/*", JSON),
        ("text/html", HTML),
        ("application/xml", XML),
        ("text/plain;charset=utf-8", PLAIN),
        ("text/html, application/json", HTML),  # equal q: the first wins
        ("text/html;q=0.5, application/xml;q=0.9", XML),
        ("text/html;q=0, text/plain", PLAIN),
        ("text/html, */*;q=0.8", HTML),
        ("image/webp, text/html", JSON),  # the first with the top q, unknown to Kong
        ("not a media type, text/plain", PLAIN),
    ],
)
def test_response_type(accept: str | None, expected: str) -> None:
    """Accept values map to the body type Kong picks."""
    assert response_type(accept) == expected


def test_plugin_errors_use_accept_only() -> None:
    """kong.response.error: Accept decides, Content-Type does not, JSON by default."""
    assert negotiate(Headers([("Content-Type", "text/html")])) == JSON
    # several Accept headers: the first one decides
    assert negotiate(Headers([("Accept", "text/html;q=0.5"), ("Accept", "text/plain")])) == HTML


@pytest.mark.parametrize(
    ("headers", "default_type", "expected"),
    [
        ([("Accept", "*/*")], "text/plain", JSON),
        ([("Accept", "video/mp4")], "text/html", JSON),
        ([("Content-Type", "application/x-www-form-urlencoded")], "text/plain", JSON),
        ([("Content-Type", "text/html; charset=utf-8")], "application/json", HTML),
        ([], "text/plain", PLAIN),
        ([], "text/html", HTML),
    ],
)
def test_nginx_errors_fall_back_to_content_type_then_default(
    headers: list[tuple[str, str]], default_type: str, expected: str
) -> None:
    """error_default_type applies only with neither Accept nor Content-Type."""
    _, out, _ = render_nginx_error(502, Headers(headers), "rid", default_type)
    assert out.get("content-type") == expected
