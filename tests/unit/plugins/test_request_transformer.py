"""request-transformer: templates, header/query/body operations and their order (Kong's access.lua)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from twisted.internet.defer import Deferred

from kongtx.http.body import StreamBody
from kongtx.http.gateway_io import GatewayRequest
from kongtx.http.headers import Headers
from kongtx.plugins.request_transformer.handler import HeaderTable
from kongtx.plugins.request_transformer.handler import RequestTransformerHandler as Handler
from kongtx.plugins.request_transformer.schema import CONFIG
from kongtx.plugins.request_transformer.template import TemplateError, compile_template
from kongtx.plugins.testing import make_context
from kongtx.plugins.transformations import append_value, split_entry
from kongtx.proxy.context import ProxyContext
from kongtx.schema.fields import fill_record


def _conf(**sections: Any) -> dict[str, Any]:
    conf = fill_record(CONFIG.fields, {})
    for key, value in sections.items():
        if isinstance(value, dict):
            conf[key] = {**conf[key], **value}
        else:
            conf[key] = value
    assert CONFIG.validate(conf) is None, CONFIG.validate(conf)
    return conf


def _ctx(
    method: str = "GET",
    target: str = "/",
    headers: list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    captures: dict | None = None,
) -> ProxyContext:
    return make_context(method, target, headers or [], body, uri_captures=captures or {})


def _run(conf: dict[str, Any], ctx: ProxyContext, handler: Handler | None = None) -> None:
    result = (handler or Handler()).access(ctx, conf)
    if result is not None:
        failures: list[Any] = []
        result.addErrback(failures.append)
        assert result.called, "body read did not complete"
        if failures:
            failures[0].raiseException()


# -- templates ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "source, expected",
    [
        ("plain text", "plain text"),
        ("$(headers.x_foo)", "bar"),
        ('$(headers["X-Foo"])', "bar"),
        ("$(query_params.q)!", "1!"),
        ("$(uri_captures[1])/$(uri_captures.user)", "c1/joe"),
        ("$(shared.k)", "v"),
        ('$(headers.missing or "default")', "default"),
        ("$(headers.missing)", "nil"),
        ('$(type(headers.multi) == "table" and headers.multi[2] or headers.multi)', "b"),
        ('$("<" .. headers.x_foo .. ">")', "<bar>"),
        ("#$(headers.x_foo)#", "#bar#"),
    ],
)
def test_template_renders_lua_subset(source: str, expected: str) -> None:
    """Templates render headers/query/captures/shared with Lua semantics."""
    env = {
        "headers": HeaderTable({"x-foo": "bar", "multi": ["a", "b"]}),
        "query_params": {"q": "1"},
        "uri_captures": {0: "/c1/joe", 1: "c1", "user": "joe"},
        "shared": {"k": "v"},
    }
    assert compile_template(source).render(env) == expected


@pytest.mark.parametrize("source", ["$(headers.", "$(headers.a b)", "$(1 +)", "$(headers[)"])
def test_template_syntax_errors(source: str) -> None:
    """A malformed expression fails at compile time."""
    with pytest.raises(TemplateError):
        compile_template(source)


def test_template_indexing_nil_fails_at_render() -> None:
    """Indexing nil is a runtime error, like Lua (the request then fails with 500)."""
    template = compile_template("$(headers.missing.deeper)")
    with pytest.raises(TemplateError):
        template.render({"headers": HeaderTable()})


def test_template_cannot_reach_python() -> None:
    """Unknown names are nil and only whitelisted functions are callable."""
    with pytest.raises(TemplateError):
        compile_template("$(__import__('os'))").render({})
    assert compile_template("$(os)").render({}) == "nil"


def test_split_entry_skips_extra_colons() -> None:
    """``a::b`` is name ``a`` value ``b``, as Kong's pattern."""
    assert split_entry("a::b:c") == ("a", "b:c")
    assert split_entry("a") == ("a", "")


# -- schema ---------------------------------------------------------------------------------
def test_schema_messages() -> None:
    """Kong's validation messages for missing values, bad headers and bad templates."""
    conf = fill_record(CONFIG.fields, {})
    conf["add"] = {
        **conf["add"],
        "querystring": ["q"],
        "headers": ["bad header:1"],
        "body": ["b:$(x"],
    }
    conf["rename"] = {**conf["rename"], "headers": ["a:b c"]}
    errors = CONFIG.validate(conf)
    assert errors["add"]["querystring"] == ["key 'q' has no value"]
    assert errors["add"]["headers"] == ["'bad header' is not a valid header"]
    assert errors["add"]["body"][0].startswith("value '$(x' is not in supported format, error:")
    assert errors["rename"]["headers"] == ["'b c' is not a valid header"]


# -- headers ---------------------------------------------------------------------------------
def test_header_operations_in_order() -> None:
    """remove, rename, replace (only if present), add (only if absent), append."""
    conf = _conf(
        remove={"headers": ["x-remove"]},
        rename={"headers": ["x-old:x-new"]},
        replace={"headers": ["x-replace:new", "x-absent:never"]},
        add={"headers": ["x-add:added", "x-keep:ignored"]},
        append={"headers": ["x-keep:second"]},
    )
    ctx = _ctx(
        headers=[
            ("Host", "h"),
            ("X-Remove", "1"),
            ("X-Old", "o"),
            ("X-Replace", "r"),
            ("X-Keep", "k"),
        ]
    )
    _run(conf, ctx)
    headers = ctx.request.headers
    assert "x-remove" not in headers and "x-old" not in headers
    assert headers.get("x-new") == "o"
    assert headers.get("x-replace") == "new"
    assert "x-absent" not in headers
    assert headers.get("x-add") == "added"
    assert headers.get_all("x-keep") == ["k", "second"]
    assert headers.get("host") == "h"


def test_header_templates_see_original_headers() -> None:
    """Templates render against the request headers before this plugin changed them."""
    conf = _conf(remove={"headers": ["x-src"]}, add={"headers": ["x-copy:$(headers.x_src)"]})
    ctx = _ctx(headers=[("X-Src", "value")])
    _run(conf, ctx)
    assert ctx.request.headers.get("x-copy") == "value"
    assert "x-src" not in ctx.request.headers


def test_host_replace_and_remove_is_ignored() -> None:
    """``host`` cannot be removed or added but can be replaced."""
    conf = _conf(remove={"headers": ["host"]}, replace={"headers": ["host:new.example"]})
    ctx = _ctx(headers=[("Host", "old")])
    _run(conf, ctx)
    assert ctx.request.headers.get("host") == "new.example"


# -- querystring --------------------------------------------------------------------------------
def test_querystring_operations() -> None:
    """Query args are removed, renamed, replaced, added and appended; templates read the old query."""
    conf = _conf(
        remove={"querystring": ["drop"]},
        rename={"querystring": ["old:new"]},
        replace={"querystring": ["rep:$(query_params.rep)-2"]},
        add={"querystring": ["add:a b", "keep:no"]},
        append={"querystring": ["keep:two", "fresh:1"]},
    )
    ctx = _ctx(target="/p?drop=1&old=o&rep=r&keep=k")
    _run(conf, ctx)
    assert sorted(ctx.query_args()) == [
        ("add", "a b"),
        ("fresh", "1"),
        ("keep", "k"),
        ("keep", "two"),
        ("new", "o"),
        ("rep", "r-2"),
    ]


def test_no_query_ops_leaves_query_untouched() -> None:
    """Without querystring operations the raw query string is forwarded as is."""
    ctx = _ctx(target="/p?a=%2F&b")
    _run(_conf(add={"headers": ["x:1"]}), ctx)
    assert ctx.upstream_query == "a=%2F&b"


# -- uri and method ------------------------------------------------------------------------------
def test_replace_uri_with_captures() -> None:
    """replace.uri renders uri captures into the upstream path."""
    ctx = _ctx(target="/users/42?x=1", captures={0: "/users/42", 1: "42", "id": "42"})
    _run(_conf(replace={"uri": "/v2/user/$(uri_captures.id)"}), ctx)
    assert ctx.upstream_path == "/v2/user/42"
    assert ctx.upstream_query == "x=1"


def test_method_to_get_moves_form_body_into_query() -> None:
    """Changing to GET appends the form-urlencoded body to the query string."""
    ctx = _ctx(
        "POST", "/p?a=1", [("Content-Type", "application/x-www-form-urlencoded")], b"a=2&b=3"
    )
    _run(_conf(http_method="GET"), ctx)
    assert ctx.request.method == "GET"
    assert ctx.query_args() == [("a", "1"), ("a", "2"), ("b", "3")]


def test_method_change_without_body_is_synchronous() -> None:
    """A method change with no form body returns no Deferred."""
    ctx = _ctx("GET", "/p")
    assert Handler().access(ctx, _conf(http_method="POST")) is None
    assert ctx.request.method == "POST"


# -- bodies -----------------------------------------------------------------------------------------
def test_json_body_operations() -> None:
    """JSON keys are removed, renamed, replaced, added and appended; Content-Length follows."""
    conf = _conf(
        remove={"body": ["drop"]},
        rename={"body": ["old:new"]},
        replace={"body": ["rep:$(headers.x_v)", "absent:x"]},
        add={"body": ["add:1", "keep:no"]},
        append={"body": ["keep:two", "list:c"]},
    )
    body = json.dumps({"drop": 1, "old": "o", "rep": "r", "keep": "k", "list": ["a"]}).encode()
    ctx = _ctx(
        "POST",
        "/",
        [("Content-Type", "application/json"), ("X-V", "hv"), ("Content-Length", str(len(body)))],
        body,
    )
    _run(conf, ctx)
    data = ctx.request.body.data  # type: ignore[union-attr]
    assert json.loads(data) == {
        "new": "o",
        "rep": "hv",
        "keep": ["k", "two"],
        "list": ["a", "c"],
        "add": "1",
    }
    assert ctx.request.headers.get("content-length") == str(len(data))


def test_json_body_invalid_is_left_alone() -> None:
    """A body that is not JSON is forwarded unchanged."""
    ctx = _ctx("POST", "/", [("Content-Type", "application/json")], b"{not json")
    _run(_conf(add={"body": ["a:1"]}), ctx)
    assert ctx.request.body.data == b"{not json"  # type: ignore[union-attr]
    assert not ctx.request_body_replaced


def test_json_empty_body_gets_added_keys() -> None:
    """An empty JSON body becomes an object with the added keys (remove/rename need a body)."""
    ctx = _ctx("POST", "/", [("Content-Type", "application/json")], b"")
    _run(_conf(add={"body": ["a:1"]}, remove={"body": ["b"]}), ctx)
    assert json.loads(ctx.request.body.data) == {"a": "1"}  # type: ignore[union-attr]


def test_urlencoded_body_operations() -> None:
    """Form bodies follow the same operations; values are percent-encoded."""
    conf = _conf(
        remove={"body": ["drop"]},
        rename={"body": ["old:new"]},
        add={"body": ["sp:a b"]},
        append={"body": ["new:2"]},
    )
    ctx = _ctx(
        "POST", "/", [("Content-Type", "application/x-www-form-urlencoded")], b"drop=1&old=o&flag"
    )
    _run(conf, ctx)
    assert ctx.request.body.data == b"flag&new=o&new=2&sp=a%20b"  # type: ignore[union-attr]


def test_multipart_body_operations() -> None:
    """Multipart parts are renamed, removed, replaced and added, keeping the boundary."""
    body = (
        b'--XX\r\nContent-Disposition: form-data; name="old"\r\n\r\nov\r\n'
        b'--XX\r\nContent-Disposition: form-data; name="drop"\r\n\r\nd\r\n'
        b'--XX\r\nContent-Disposition: form-data; name="rep"\r\n\r\nr\r\n--XX--\r\n'
    )
    conf = _conf(
        rename={"body": ["old:new"]},
        remove={"body": ["drop"]},
        replace={"body": ["rep:R"]},
        add={"body": ["add:A"]},
    )
    ctx = _ctx("POST", "/", [("Content-Type", 'multipart/form-data; boundary="XX"')], body)
    _run(conf, ctx)
    out = ctx.request.body.data  # type: ignore[union-attr]
    assert out == (
        b'--XX\r\nContent-Disposition: form-data; name="new"\r\n\r\nov\r\n'
        b'--XX\r\nContent-Disposition: form-data; name="rep"\r\n\r\nR\r\n'
        b'--XX\r\nContent-Disposition: form-data; name="add"\r\n\r\nA\r\n--XX--\r\n'
    )


def test_body_ops_on_other_content_types_do_not_buffer() -> None:
    """A text body is neither read nor changed, and the hook stays synchronous."""
    request = GatewayRequest(
        "POST",
        "/",
        "1.1",
        Headers([("Content-Type", "text/plain")]),
        "http",
        "127.0.0.1",
        1,
        2,
        body=StreamBody(None),
    )
    ctx = make_context(request=request)
    assert Handler().access(ctx, _conf(add={"body": ["a:1"]})) is None
    assert isinstance(ctx.request.body, StreamBody)


def test_body_read_waits_for_a_slow_body() -> None:
    """The hook's Deferred fires only once the streamed body has arrived, then the query changes."""
    stream = StreamBody(None)
    request = GatewayRequest(
        "POST",
        "/?q=1",
        "1.1",
        Headers([("Content-Type", "application/json")]),
        "http",
        "127.0.0.1",
        1,
        2,
        body=stream,
    )
    ctx = make_context(request=request)
    result = Handler().access(ctx, _conf(add={"body": ["a:1"], "querystring": ["b:2"]}))
    assert isinstance(result, Deferred) and not result.called
    stream.feed(b'{"x":')
    stream.feed(b"true}")
    assert not result.called
    stream.end()
    assert result.called
    assert json.loads(ctx.request.body.data) == {"x": True, "a": "1"}  # type: ignore[union-attr]
    assert ctx.query_args() == [("q", "1"), ("b", "2")]


def test_append_value_rules() -> None:
    """Kong's append_value: string -> pair, list grows, other -> fresh list."""
    assert append_value("a", "b") == ["a", "b"]
    assert append_value(["a"], "b") == ["a", "b"]
    assert append_value(None, "b") == ["b"]
    assert append_value(5, "b") == ["b"]


def test_plans_are_compiled_once_per_config() -> None:
    """The snapshot compiles a config once (CompiledConfig); hooks read that plan; a bare
    dict (a direct call) is compiled on the spot."""
    from kongtx.plugins.base import CompiledConfig

    handler = Handler()
    conf = _conf(add={"headers": ["x:$(headers.y)"]})
    compiled = CompiledConfig.of(handler, conf, {})
    plan = handler.compiled(compiled)
    assert handler.compiled(compiled) is plan
    assert handler.compiled(conf) is not plan
