"""Unit tests of the shared auth helpers (consumer headers, anonymous OR/AND logic).

Also provides :func:`make_ctx`, a real ``ProxyContext`` whose entity cache
reads hand-built rows (no I/O), used by the auth plugins' unit tests.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from twisted.internet.task import Clock

from kongtx.cache import Entities
from kongtx.errors import ProxyExit
from kongtx.plugins import authn, testing
from kongtx.proxy.context import ProxyContext


def new_id() -> str:
    return str(uuid.uuid4())


def consumer(username: str | None = None, custom_id: str | None = None) -> dict[str, Any]:
    return {
        "id": new_id(),
        "username": username,
        "custom_id": custom_id,
        "created_at": 1,
        "tags": None,
    }


def make_ctx(
    rows: dict[str, list[dict[str, Any]]] | Entities,
    *,
    method: str = "GET",
    target: str = "/",
    headers: list[tuple[str, str]] = (),
    body: bytes | None = None,
    clock: Clock | None = None,
) -> ProxyContext:
    clock = clock or Clock()
    if isinstance(rows, Entities):
        return testing.make_context(method, target, headers, body, entities=rows, clock=clock)
    return testing.make_context(method, target, headers, body, rows=rows, clock=clock)


def test_set_consumer_sets_and_clears_headers() -> None:
    """Success sets the consumer headers, drops missing ones and client copies, and X-Anonymous-Consumer."""
    c = consumer("alice")
    ctx = make_ctx(
        {"consumers": [c]},
        headers=[
            ("X-Consumer-Custom-ID", "forged"),
            ("X-Anonymous-Consumer", "true"),
            ("X-Consumer-ID", "x"),
        ],
    )
    cred = {"id": new_id()}
    authn.set_consumer(ctx, c, cred, cred["id"])
    h = ctx.request.headers
    assert h.get_all("x-consumer-id") == [c["id"]]
    assert h.get("x-consumer-username") == "alice"
    assert "x-consumer-custom-id" not in h
    assert h.get("x-credential-identifier") == cred["id"]
    assert "x-anonymous-consumer" not in h
    assert ctx.consumer is c and ctx.credential is cred


def test_set_consumer_utf8_username() -> None:
    """A non-ASCII username travels as UTF-8 bytes, as Kong sends it."""
    c = consumer("zoë")
    ctx = make_ctx({"consumers": [c]})
    authn.set_consumer(ctx, c, {"id": "k"}, "k")
    assert ctx.request.headers.get("x-consumer-username").encode("latin-1") == "zoë".encode()


def test_anonymous_by_username_and_id() -> None:
    """``anonymous`` accepts a consumer id or a username; the anonymous consumer has no credential."""
    anon = consumer("guest")
    for ref in (anon["id"], "guest"):
        ctx = make_ctx({"consumers": [anon]}, headers=[("X-Credential-Identifier", "forged")])
        authn.fail(ctx, ref, ProxyExit(401, "Unauthorized"))
        assert ctx.consumer is anon and ctx.credential is None
        assert ctx.request.headers.get("x-anonymous-consumer") == "true"
        assert ctx.request.headers.get("x-consumer-username") == "guest"
        assert "x-credential-identifier" not in ctx.request.headers


def test_missing_anonymous_is_500() -> None:
    """A configured anonymous consumer that does not exist answers 500 with Kong's message."""
    ctx = make_ctx({"consumers": []})
    with pytest.raises(ProxyExit) as info:
        authn.fail(ctx, "ghost", ProxyExit(401, "Unauthorized"))
    assert info.value.status == 500
    assert info.value.message == "anonymous consumer ghost is configured but doesn't exist"


def test_fail_without_anonymous_raises_the_error() -> None:
    """Without ``anonymous`` (logical AND) a failure answers the plugin's error."""
    ctx = make_ctx({})
    error = ProxyExit(401, "No API key found in request")
    with pytest.raises(ProxyExit) as info:
        authn.fail(ctx, None, error)
    assert info.value is error


def test_or_already_done() -> None:
    """Only with ``anonymous`` set and a credential already recorded does a plugin skip."""
    ctx = make_ctx({})
    assert not authn.or_already_done(ctx, "x")
    ctx.authenticate(consumer("a"), {"id": "c"})
    assert authn.or_already_done(ctx, "x")
    assert not authn.or_already_done(ctx, None)
    ctx.authenticate(consumer("anon"), None)
    assert not authn.or_already_done(ctx, "x")


def test_wire_text_round_trip() -> None:
    """Received UTF-8 header bytes are read as text; invalid UTF-8 stays as received."""
    assert authn.wire_text("abc") == "abc"
    assert authn.wire_text("é".encode().decode("latin-1")) == "é"
    assert authn.wire_text("\xff") == "\xff"


def test_set_consumer_headers_follow_a_changed_row() -> None:
    """The headers built for a row are reused for that row only: a changed consumer (a new
    row object) or another credential identifier gets its own."""
    c = consumer("alice")
    cred = {"id": new_id()}
    first = make_ctx({"consumers": [c]})
    authn.set_consumer(first, c, cred, cred["id"])
    renamed = dict(c, username="bob")
    second = make_ctx({"consumers": [renamed]})
    authn.set_consumer(second, renamed, cred, "other-identifier")
    again = make_ctx({"consumers": [c]})
    authn.set_consumer(again, c, cred, cred["id"])
    assert second.request.headers.get("x-consumer-username") == "bob"
    assert second.request.headers.get("x-credential-identifier") == "other-identifier"
    assert again.request.headers.get("x-consumer-username") == "alice"
    assert list(again.request.headers.lower_items()) == list(first.request.headers.lower_items())
