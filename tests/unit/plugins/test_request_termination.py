"""request-termination: Kong's exits, defaults, trigger and echo."""

from __future__ import annotations

import json

import pytest
import pytest_twisted

from kongtx.errors import ProxyExit
from kongtx.http.body import BufferedBody
from kongtx.http.headers import Headers
from kongtx.http.request_body import get_body
from kongtx.plugins.request_termination.handler import RequestTerminationHandler as Handler
from kongtx.plugins.request_termination.handler import plain_exit
from kongtx.plugins.testing import make_context
from kongtx.proxy.context import ProxyContext
from kongtx.proxy.responses import render_exit


def _conf(**changes) -> dict:
    return {
        "status_code": 503,
        "message": None,
        "content_type": None,
        "body": None,
        "echo": False,
        "trigger": None,
        **changes,
    }


def _ctx(
    target: str = "/", headers: list[tuple[str, str]] | None = None, body=None
) -> ProxyContext:
    return make_context("POST", target, headers or [("Host", "Api.Test:8000")], body)


def _sync(conf: dict, ctx: ProxyContext | None = None) -> ProxyExit | None:
    try:
        result = Handler().access(ctx or _ctx(), conf)
    except ProxyExit as exc:
        return exc
    assert result is None
    return None


def test_default_is_503_service_unavailable():
    """The default exit is 503 {"message":"Service unavailable"}."""
    exc = _sync(_conf())
    status, headers, body = render_exit(exc, Headers(), "rid")
    assert status == 503
    assert json.loads(body) == {"message": "Service unavailable"}
    assert headers.get("content-type").startswith("application/json")


@pytest.mark.parametrize(
    "status, message",
    [
        (401, "Unauthorized"),
        (404, "Not found"),
        (405, "Method not allowed"),
        (500, "An unexpected error occurred"),
        (502, "Bad Gateway"),
    ],
)
def test_default_messages(status, message):
    """Kong's default message per status."""
    assert plain_exit(_conf(status_code=status)).body == {"message": message}


def test_other_status_without_message_has_no_body():
    """A status without a default message (204, 418) answers an empty body."""
    for status in (204, 418):
        rendered = render_exit(plain_exit(_conf(status_code=status)), Headers(), "rid")
        assert rendered[0] == status and rendered[2] == b""
        assert "content-type" not in rendered[1]


def test_custom_message():
    """message replaces the default."""
    assert plain_exit(_conf(status_code=418, message="teapot")).body == {"message": "teapot"}


def test_body_and_content_type():
    """body is sent as is with content_type."""
    exc = plain_exit(_conf(status_code=451, body="<h1>gone</h1>", content_type="text/html"))
    status, headers, body = render_exit(exc, Headers(), "rid")
    assert (status, body, headers.get("content-type")) == (451, b"<h1>gone</h1>", "text/html")


def test_trigger_header_or_query():
    """With trigger set, only requests carrying that header or query arg are terminated."""
    conf = _conf(trigger="X-Stop")
    assert _sync(conf, _ctx("/")) is None
    assert _sync(conf, _ctx("/", [("x-stop", "1")])).status == 503
    assert _sync(conf, _ctx("/?X-Stop")).status == 503
    assert _sync(conf, _ctx("/?x-stop=1")) is None


@pytest_twisted.ensureDeferred
async def test_echo_returns_the_request():
    """echo answers the request (headers, query, body, route) as JSON."""
    ctx = _ctx(
        "/a/b?x=1&x=2&y=",
        [
            ("Host", "Api.Test:8000"),
            ("Content-Type", "application/json"),
            ("X-Multi", "1"),
            ("X-Multi", "2"),
        ],
        BufferedBody(b'{"k": [1]}'),
    )
    ctx.route = {"id": "r1", "name": "route"}
    ctx.service = {"id": "s1"}
    result = Handler().access(ctx, _conf(status_code=200, echo=True, message="hi"))
    with pytest.raises(ProxyExit) as info:
        await result
    exc = info.value
    assert exc.status == 200
    content = exc.body
    assert content["message"] == "hi"
    request = content["request"]
    assert request["host"] == "api.test"
    assert request["port"] == 8000
    assert request["method"] == "POST" and request["path"] == "/a/b" and request["scheme"] == "http"
    assert request["query"] == {"x": ["1", "2"], "y": ""}
    assert request["headers"]["x-multi"] == ["1", "2"]
    assert request["body"] == {"k": [1]}
    assert request["raw_body"] == '{"k": [1]}'
    assert request["uri_captures"] == {"unnamed": [], "named": []}
    assert content["matched_route"] == {"id": "r1", "name": "route"}
    assert content["matched_service"] == {"id": "s1"}
    assert isinstance(content["kong"]["worker_pid"], int)
    json.dumps(content)


@pytest_twisted.ensureDeferred
async def test_echo_with_trigger_absent_passes():
    """echo with a trigger does nothing when the trigger is absent."""
    assert Handler().access(_ctx("/"), _conf(echo=True, trigger="x-echo")) is None


def test_parse_body():
    """JSON and url-encoded bodies are parsed; others are not."""
    assert get_body("application/x-www-form-urlencoded", b"a=1&a=2&b=") == {
        "a": ["1", "2"],
        "b": "",
    }
    assert get_body("application/json", b"{bad") is None
    assert get_body("text/plain", b"text") is None
