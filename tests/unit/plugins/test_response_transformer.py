"""response-transformer: header operations, JSON body operations, json_types and buffering decisions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kongtx.plugins.response_transformer.handler import ResponseTransformerHandler as Handler
from kongtx.plugins.response_transformer.handler import is_json_body, json_value
from kongtx.plugins.response_transformer.schema import CONFIG
from kongtx.plugins.testing import make_context, upstream_answer
from kongtx.proxy.context import ProxyContext
from kongtx.schema.fields import fill_record


def _conf(**sections: Any) -> dict[str, Any]:
    conf = fill_record(CONFIG.fields, {})
    for key, value in sections.items():
        conf[key] = {**conf[key], **value}
    assert CONFIG.validate(conf) is None, CONFIG.validate(conf)
    return conf


def _ctx(response: list[tuple[str, str]]) -> ProxyContext:
    ctx = make_context()
    upstream_answer(ctx, 200, response)
    return ctx


def test_header_operations() -> None:
    """remove, rename, replace (if present), add (if absent), append, in that order."""
    conf = _conf(
        remove={"headers": ["x-remove"]},
        rename={"headers": ["x-old:x-new"]},
        replace={"headers": ["x-rep:new", "x-absent:v"]},
        add={"headers": ["x-add:a", "x-rep:never"]},
        append={"headers": ["x-rep:second"]},
    )
    ctx = _ctx([("X-Remove", "1"), ("X-Old", "o"), ("X-Rep", "r"), ("Content-Length", "10")])
    Handler().header_filter(ctx, conf)
    headers = ctx.response_headers
    assert headers is not None
    assert "x-remove" not in headers and "x-old" not in headers and "x-absent" not in headers
    assert headers.get("x-new") == "o"
    assert headers.get_all("x-rep") == ["new", "second"]
    assert headers.get("x-add") == "a"
    assert headers.get("content-length") == "10"


def test_add_tests_the_original_headers() -> None:
    """add/replace look at the headers as received, so removing then adding a header adds nothing."""
    conf = _conf(remove={"headers": ["x-a"]}, add={"headers": ["x-a:new"]})
    ctx = _ctx([("X-A", "old")])
    Handler().header_filter(ctx, conf)
    assert "x-a" not in ctx.response_headers  # type: ignore[operator]


def test_content_length_dropped_only_for_json_body_transforms() -> None:
    """Content-Length goes when a JSON op applies to a JSON response, not otherwise."""
    handler = Handler()
    conf = _conf(add={"json": ["a:1"]})
    ctx = _ctx([("Content-Type", "application/json; charset=utf-8"), ("Content-Length", "2")])
    handler.header_filter(ctx, conf)
    assert "content-length" not in ctx.response_headers  # type: ignore[operator]
    ctx = _ctx([("Content-Type", "text/plain"), ("Content-Length", "2")])
    handler.header_filter(ctx, conf)
    assert ctx.response_headers.get("content-length") == "2"  # type: ignore[union-attr]
    ctx = _ctx([("Content-Type", "application/json"), ("Content-Length", "2")])
    handler.header_filter(ctx, _conf(add={"headers": ["x:1"]}))
    assert ctx.response_headers.get("content-length") == "2"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "content_type, expected",
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("text/html, application/json", True),
        ("application/vnd.api+json", False),
        ("text/json", False),
        (None, False),
    ],
)
def test_is_json_body(content_type: str | None, expected: bool) -> None:
    """Only application/json media types count as JSON."""
    assert is_json_body(content_type) is expected


def test_json_operations_and_types() -> None:
    """JSON keys: remove, rename, replace (truthy only), add, append, with json_types casts."""
    conf = _conf(
        remove={"json": ["drop"]},
        rename={"json": ["old:new"]},
        replace={"json": ["rep:5", "off:x", "nul:y"], "json_types": ["number", "string", "string"]},
        add={
            "json": ["flag:true", "rep:no", 's:a/b"c'],
            "json_types": ["boolean", "string", "string"],
        },
        append={"json": ["list:2", "str:b"], "json_types": ["number"]},
    )
    ctx = _ctx([("Content-Type", "application/json")])
    body = json.dumps(
        {"drop": 1, "old": "o", "rep": "r", "off": False, "nul": None, "list": [1], "str": "a"}
    )
    out = Handler().body_filter(ctx, conf, body.encode(), True)
    assert json.loads(out) == {
        "new": "o",
        "rep": 5,
        "off": False,
        "nul": "y",
        "list": [1, 2],
        "str": ["a", "b"],
        "flag": True,
        "s": 'a/b"c',
    }


def test_invalid_json_is_unchanged() -> None:
    """A body that does not parse passes through."""
    ctx = _ctx([("Content-Type", "application/json")])
    assert Handler().body_filter(ctx, _conf(add={"json": ["a:1"]}), b"{oops", True) == b"{oops"


def test_non_json_response_streams_untouched() -> None:
    """A text response with JSON ops passes chunk by chunk, unbuffered."""
    handler = Handler()
    conf = _conf(add={"json": ["a:1"]})
    ctx = _ctx([("Content-Type", "text/plain")])
    assert handler.body_filter(ctx, conf, b"one", False) == b"one"
    assert handler.body_filter(ctx, conf, b"two", True) == b"two"
    assert not handler.wants_response_body(conf, ctx)


def test_streamed_json_is_collected_until_eof() -> None:
    """If the core streams a JSON response, chunks are held back and transformed at eof."""
    handler = Handler()
    conf = _conf(remove={"json": ["b"]})
    ctx = _ctx([("Content-Type", "application/json")])
    assert handler.body_filter(ctx, conf, b'{"a":1,', False) == b""
    assert handler.body_filter(ctx, conf, b'"b":2}', False) == b""
    assert json.loads(handler.body_filter(ctx, conf, b"", True)) == {"a": 1}


def test_wants_response_body() -> None:
    """Buffering is requested only for JSON ops, and for a JSON response when the context is known."""
    handler = Handler()
    assert not handler.wants_response_body(_conf(add={"headers": ["x:1"]}))
    assert handler.wants_response_body(_conf(remove={"json": ["x"]}))
    assert handler.wants_response_body(
        _conf(remove={"json": ["x"]}), _ctx([("Content-Type", "application/json")])
    )


def test_json_value_quirks() -> None:
    """Kong's json_value: escapes kept except quotes and slashes; number casts may fail."""
    assert json_value('a"b/c', None) == 'a"b/c'
    assert json_value("1.5", "number") == 1.5
    assert json_value("x", "number") is None
    assert json_value("yes", "boolean") is False


def test_schema_messages() -> None:
    """Bad rename headers, missing colons and unknown json_types are rejected."""
    conf = fill_record(CONFIG.fields, {})
    conf["rename"] = {"headers": ["a:b c"], "json": ["nocolon"]}
    conf["add"] = {**conf["add"], "json_types": ["int"]}
    errors = CONFIG.validate(conf)
    assert errors["rename"] == {
        "headers": ["'b c' is not a valid header"],
        "json": ["invalid value: nocolon"],
    }
    assert errors["add"] == {"json_types": ["expected one of: boolean, number, string"]}
