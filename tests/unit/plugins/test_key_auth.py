"""Unit tests of key-auth: key search, errors, hide_credentials, anonymous, ttl (no I/O)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from twisted.internet.task import Clock

from kongtx.http.request_body import parse_body
from kongtx.plugins.key_auth.handler import KeyAuthHandler as Handler
from kongtx.plugins.key_auth.schema import CONFIG
from kongtx.plugins.testing import make_entities, run_hook
from kongtx.schema.fields import fill_record
from tests.unit.plugins.test_authn import consumer, make_ctx, new_id


def conf(**overrides: Any) -> dict[str, Any]:
    return fill_record(CONFIG.fields, overrides)


def credential(owner: dict[str, Any], key: str, ttl: int | None = None) -> dict[str, Any]:
    return {
        "id": new_id(),
        "consumer": {"id": owner["id"]},
        "key": key,
        "created_at": 1,
        "tags": None,
        "ttl": ttl,
    }


ALICE = consumer("alice", "a-1")
GUEST = consumer("guest")
CRED = credential(ALICE, "secret-key")
ROWS = {"consumers": [ALICE, GUEST], "keyauth_credentials": [CRED]}


def run(ctx: Any, config: dict[str, Any], handler: Handler | None = None) -> Any:
    """Run access now (it must not wait: the body is buffered); None, or the ProxyExit."""
    return run_hook(handler or Handler(), "access", ctx, config)


def test_key_in_header_authenticates() -> None:
    """A valid key in the ``apikey`` header authenticates and sets the consumer headers."""
    ctx = make_ctx(ROWS, headers=[("apikey", "secret-key")])
    assert run(ctx, conf()) is None
    assert ctx.consumer is ALICE and ctx.credential is CRED
    h = ctx.request.headers
    assert h.get("x-consumer-id") == ALICE["id"]
    assert h.get("x-consumer-custom-id") == "a-1"
    assert h.get("x-credential-identifier") == CRED["id"]
    assert h.get("apikey") == "secret-key"  # not hidden by default


def test_key_in_query_authenticates() -> None:
    """A valid key in the query string authenticates."""
    ctx = make_ctx(ROWS, target="/x?apikey=secret-key")
    assert run(ctx, conf()) is None
    assert ctx.consumer is ALICE


def test_missing_and_empty_key() -> None:
    """No key, or an empty one, is 401 ``No API key found in request`` with ``WWW-Authenticate: Key``."""
    for ctx in (
        make_ctx(ROWS),
        make_ctx(ROWS, target="/?apikey="),
        make_ctx(ROWS, headers=[("apikey", "")]),
    ):
        exc = run(ctx, conf())
        assert (exc.status, exc.message) == (401, "No API key found in request")
        assert exc.headers == [("WWW-Authenticate", "Key")]
        assert ctx.consumer is None


def test_invalid_key_with_realm() -> None:
    """An unknown key is 401 ``Unauthorized``; ``realm`` goes into ``WWW-Authenticate``."""
    exc = run(make_ctx(ROWS, headers=[("apikey", "nope")]), conf(realm="kong"))
    assert (exc.status, exc.message) == (401, "Unauthorized")
    assert exc.headers == [("WWW-Authenticate", 'Key realm="kong"')]


def test_duplicate_keys() -> None:
    """A key repeated in the headers or the query string is 401 ``Duplicate API key found``."""
    ctxs = [
        make_ctx(ROWS, headers=[("apikey", "secret-key"), ("apikey", "other")]),
        make_ctx(ROWS, target="/?apikey=secret-key&apikey=secret-key"),
    ]
    for ctx in ctxs:
        exc = run(ctx, conf())
        assert (exc.status, exc.message) == (401, "Duplicate API key found")


def test_key_names_order_and_sources() -> None:
    """Key names are tried in order; disabled sources are not read."""
    ctx = make_ctx(ROWS, headers=[("x-key", "secret-key")], target="/?apikey=nope")
    assert run(ctx, conf(key_names=["x-key", "apikey"])) is None
    ctx = make_ctx(ROWS, headers=[("apikey", "secret-key")])
    exc = run(ctx, conf(key_in_header=False))
    assert exc.message == "No API key found in request"
    ctx = make_ctx(ROWS, target="/?apikey=secret-key")
    assert run(ctx, conf(key_in_query=False)).message == "No API key found in request"


def test_hide_credentials_header_and_query_order() -> None:
    """hide_credentials removes the header and the query arg, keeping the other args in order."""
    ctx = make_ctx(ROWS, target="/p?b=2&apikey=secret-key&a=1", headers=[("apikey", "secret-key")])
    assert run(ctx, conf(hide_credentials=True)) is None
    assert "apikey" not in ctx.request.headers
    assert ctx.query_args() == [("b", "2"), ("a", "1")]
    assert ctx.upstream_query == "b=2&a=1"


def test_query_untouched_without_key_arg() -> None:
    """hide_credentials does not re-encode a query string that has no key in it."""
    ctx = make_ctx(ROWS, target="/p?x=a%20b", headers=[("apikey", "secret-key")])
    assert run(ctx, conf(hide_credentials=True)) is None
    assert ctx.upstream_query == "x=a%20b"


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/x-www-form-urlencoded", b"a=1&apikey=secret-key"),
        ("application/json; charset=utf-8", json.dumps({"a": 1, "apikey": "secret-key"}).encode()),
        (
            "multipart/form-data; boundary=XX",
            (
                b'--XX\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
                b'--XX\r\nContent-Disposition: form-data; name="apikey"\r\n\r\nsecret-key\r\n--XX--\r\n'
            ),
        ),
    ],
)
def test_key_in_body_and_hidden(content_type: str, body: bytes) -> None:
    """key_in_body finds the key in form, JSON and multipart bodies; hide_credentials strips the field."""
    ctx = make_ctx(ROWS, method="POST", headers=[("Content-Type", content_type)], body=body)
    assert run(ctx, conf(key_in_body=True)) is None
    assert ctx.consumer is ALICE
    ctx = make_ctx(ROWS, method="POST", headers=[("Content-Type", content_type)], body=body)
    assert run(ctx, conf(key_in_body=True, hide_credentials=True)) is None
    new = ctx.request.body.data
    assert b"secret-key" not in new
    parsed = parse_body(content_type, new)
    assert parsed.get("apikey") is None and parsed.get("a") in ("1", 1)
    assert ctx.request.headers.get("content-length") == str(len(new))


def test_body_not_read_without_key_in_body() -> None:
    """Without key_in_body the body is ignored, and with it a header key needs no body."""
    body = b"apikey=secret-key"
    ctx = make_ctx(
        ROWS,
        method="POST",
        headers=[("Content-Type", "application/x-www-form-urlencoded")],
        body=body,
    )
    assert run(ctx, conf()).message == "No API key found in request"
    ctx = make_ctx(ROWS, headers=[("apikey", "secret-key")])
    assert Handler().access(ctx, conf(key_in_body=True)) is None  # synchronous: no Deferred


def test_duplicate_and_unparsable_bodies() -> None:
    """A JSON array value is a duplicate key; an unparsable body has no key."""
    ctx = make_ctx(
        ROWS,
        method="POST",
        headers=[("Content-Type", "application/json")],
        body=b'{"apikey": ["secret-key", "x"]}',
    )
    assert run(ctx, conf(key_in_body=True)).message == "Duplicate API key found"
    ctx = make_ctx(
        ROWS, method="POST", headers=[("Content-Type", "application/json")], body=b"{nope"
    )
    assert run(ctx, conf(key_in_body=True)).message == "No API key found in request"
    ctx = make_ctx(ROWS, method="POST", body=b"apikey=secret-key")
    assert run(ctx, conf(key_in_body=True)).message == "No API key found in request"


def test_run_on_preflight() -> None:
    """run_on_preflight=false lets OPTIONS through unauthenticated; other methods still need a key."""
    ctx = make_ctx(ROWS, method="OPTIONS")
    assert run(ctx, conf(run_on_preflight=False)) is None and ctx.consumer is None
    assert run(make_ctx(ROWS, method="OPTIONS"), conf()).status == 401
    assert run(make_ctx(ROWS, method="GET"), conf(run_on_preflight=False)).status == 401


def test_anonymous_fallback_and_or_skip() -> None:
    """With anonymous, a failure sets the anonymous consumer; an earlier credential skips the plugin."""
    ctx = make_ctx(ROWS, headers=[("apikey", "nope")])
    assert run(ctx, conf(anonymous="guest")) is None
    assert ctx.consumer is GUEST and ctx.credential is None
    assert ctx.request.headers.get("x-anonymous-consumer") == "true"
    ctx = make_ctx(ROWS, headers=[("apikey", "secret-key"), ("apikey", "x")])
    assert run(ctx, conf(anonymous=GUEST["id"])) is None and ctx.consumer is GUEST
    ctx = make_ctx(ROWS)
    earlier = {"id": "other-cred"}
    ctx.authenticate(ALICE, earlier)
    assert run(ctx, conf(anonymous="guest")) is None
    assert ctx.credential is earlier and "x-anonymous-consumer" not in ctx.request.headers


def test_missing_anonymous_consumer() -> None:
    """A missing anonymous consumer is 500 with Kong's message."""
    exc = run(make_ctx(ROWS), conf(anonymous="ghost"))
    assert exc.status == 500
    assert exc.message == "anonymous consumer ghost is configured but doesn't exist"


def test_ttl_expiry_follows_the_clock() -> None:
    """A key with a ttl is cached no longer than it lives: once it ran out, the store is
    asked again, and a key the store no longer returns is 401 ``Unauthorized``."""
    clock = Clock()
    clock.advance(1000)
    cred = credential(ALICE, "short", ttl=10)
    rows = {"consumers": [ALICE], "keyauth_credentials": [cred]}
    entities = make_entities(rows, clock)
    handler = Handler()

    def ask() -> Any:
        return run(make_ctx(entities, headers=[("apikey", "short")], clock=clock), conf(), handler)

    assert ask() is None
    clock.advance(9)
    assert ask() is None
    queries = entities.source.queries
    rows["keyauth_credentials"] = []  # the store stops returning an expired row
    clock.advance(1)
    exc = ask()
    assert (exc.status, exc.message) == (401, "Unauthorized")
    assert entities.source.queries == queries + 1


def test_hits_do_not_query() -> None:
    """Once a key and its consumer are cached, a request costs no query and no Deferred."""
    entities = make_entities(ROWS)
    assert run(make_ctx(entities, headers=[("apikey", "secret-key")]), conf()) is None
    queries = entities.source.queries
    ctx = make_ctx(entities, headers=[("apikey", "secret-key")])
    assert Handler().access(ctx, conf()) is None
    assert ctx.consumer is ALICE and entities.source.queries == queries


def test_configured_configs_are_digested_once() -> None:
    """The snapshot digests each config once; a hook with that config uses the digest."""
    from kongtx.plugins.base import CompiledConfig

    handler = Handler()
    config = CompiledConfig.of(handler, conf(key_names=["k"]), {})
    assert handler._config(config) is handler._config(config)
    assert handler._config(config).key_names == ("k",)
