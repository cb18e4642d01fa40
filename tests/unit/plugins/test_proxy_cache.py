"""proxy-cache on a fake clock with the plugin testing kit: keys, freshness, TTLs, the memory bound."""

from __future__ import annotations

from twisted.internet.task import Clock

from kongtx.plugins.proxy_cache.cache_key import build_cache_key, prefix
from kongtx.plugins.proxy_cache.handler import ProxyCacheHandler as Handler
from kongtx.plugins.proxy_cache.policy import (
    content_type_allowed,
    parse_directives,
    resource_ttl,
)
from kongtx.plugins.proxy_cache.store import CachedResponse, MemoryStore
from kongtx.plugins.testing import assert_exit, make_context, run_hook, run_response

JSON = [("Content-Type", "application/json")]


def _conf(**changes) -> dict:
    return {
        "response_code": [200, 301, 404],
        "request_method": ["GET", "HEAD"],
        "content_type": ["text/plain", "application/json"],
        "cache_ttl": 300,
        "strategy": "memory",
        "cache_control": False,
        "ignore_uri_case": False,
        "storage_ttl": None,
        "memory": {"dictionary_name": "kong_db_cache"},
        "vary_query_params": None,
        "vary_headers": None,
        "response_headers": {"age": True, "X-Cache-Status": True, "X-Cache-Key": True},
        **changes,
    }


def _request(handler: Handler, clock: Clock, conf: dict, headers=(), body=b'{"a":1}', reply=JSON):
    """One request (``headers``): a Hit exit, or the upstream answer (``reply`` headers, ``body``)
    through the filters."""
    ctx = make_context("GET", "/thing?b=2&a=1", headers, clock=clock, route={"id": "r1"})
    hit = run_hook(handler, "access", ctx, conf)
    if hit is not None:
        return hit
    run_response(handler, ctx, conf, headers=reply, body=body)
    return ctx


def test_miss_hit_refresh_on_the_clock():
    """Miss, then Hits with a growing Age until cache_ttl passes: Refresh (still stored for
    storage_ttl), stored again."""
    clock = Clock()
    handler = Handler()
    conf = _conf(cache_ttl=10, storage_ttl=60)
    miss = _request(handler, clock, conf)
    assert miss.response_headers.get("X-Cache-Status") == "Miss"
    clock.advance(4)
    hit = assert_exit(_request(handler, clock, conf), 200, body=b'{"a":1}')
    headers = dict(hit.headers)
    assert headers["X-Cache-Status"] == "Hit"
    assert headers["Age"] == "4"
    assert headers["X-Cache-Key"] == miss.response_headers.get("X-Cache-Key")
    assert headers["Content-Type"] == "application/json"
    clock.advance(7)
    refresh = _request(handler, clock, conf, body=b'{"a":2}')
    assert refresh.response_headers.get("X-Cache-Status") == "Refresh"
    assert _request(handler, clock, conf).body == b'{"a":2}'


def test_storage_ttl_drops_entries():
    """The store forgets an entry after storage_ttl even if cache_ttl is longer."""
    clock = Clock()
    handler = Handler()
    conf = _conf(storage_ttl=5)
    _request(handler, clock, conf)
    clock.advance(5)
    assert _request(handler, clock, conf).response_headers.get("X-Cache-Status") == "Miss"


def test_cache_control_freshness():
    """cache_control: the response's max-age is the TTL; a client's max-age / min-fresh ask for a Refresh."""
    clock = Clock()
    handler = Handler()
    conf = _conf(cache_control=True)
    cc = [*JSON, ("Cache-Control", "public, max-age=30")]
    _request(handler, clock, conf, reply=cc)
    clock.advance(10)
    assert _request(handler, clock, conf).status == 200  # a Hit exit
    refresh = _request(handler, clock, conf, [("Cache-Control", "max-age=5")], reply=cc)
    assert refresh.response_headers.get("X-Cache-Status") == "Refresh"
    # The refresh was stored again (max-age 30 from now): min-fresh 25 is satisfied, 35 is not.
    assert _request(handler, clock, conf, headers=[("Cache-Control", "min-fresh=25")]).status == 200
    again = _request(handler, clock, conf, [("Cache-Control", "min-fresh=35")], reply=cc)
    assert again.response_headers.get("X-Cache-Status") == "Refresh"
    clock.advance(31)
    expired = _request(handler, clock, conf, reply=cc)
    assert expired.response_headers.get("X-Cache-Status") == "Miss"
    auth = _request(handler, clock, conf, headers=[("Authorization", "Basic eA==")])
    assert auth.response_headers.get("X-Cache-Status") == "Bypass"
    uncacheable = [*JSON, ("Cache-Control", "no-cache")]
    bypass = _request(Handler(), clock, conf, reply=uncacheable)
    assert bypass.response_headers.get("X-Cache-Status") == "Bypass"


def test_keys():
    """sha256 of prefix|method|path|sorted args|vary headers; vary lists narrow the key."""
    assert (
        prefix("c", "r") == "c:r" and prefix(None, "r") == "r" and prefix(None, None) == "default"
    )
    base = build_cache_key(None, "r", "GET", "/p", [("b", "2"), ("a", "1")], [], None, None)
    same = build_cache_key(None, "r", "GET", "/p", [("a", "1"), ("b", "2")], [], None, None)
    assert base == same and len(base) == 64
    narrowed = build_cache_key(None, "r", "GET", "/p", [("a", "1"), ("b", "9")], [], ["a"], None)
    assert narrowed == build_cache_key(None, "r", "GET", "/p", [("a", "1")], [], ["a"], None)
    en = build_cache_key(None, "r", "GET", "/p", [], [("X-Lang", "en")], None, ["x-lang"])
    fr = build_cache_key(None, "r", "GET", "/p", [], [("X-Lang", "fr")], None, ["x-lang"])
    assert en != fr


def test_directives_ttl_and_content_types():
    """Kong's Cache-Control parsing, TTL sources and media type matching."""
    parsed = parse_directives(["Public, max-age=60", 's-maxage="30", no-transform'])
    assert parsed == {"public": True, "max-age": 60, "s-maxage": 30, "no-transform": True}
    assert resource_ttl(parsed, None, 0) == 30
    assert resource_ttl({}, "Thu, 01 Jan 1970 00:01:40 GMT", 40) == 60
    assert resource_ttl({"max-age": -5}, None, 0) == 0
    allowed = ["application/json", "text/*", "text/plain; charset=utf-8"]
    assert content_type_allowed(allowed, "application/json; charset=utf-8")
    assert content_type_allowed(allowed, "text/html")
    assert not content_type_allowed(["text/plain; charset=utf-8"], "text/plain; charset=latin1")
    assert not content_type_allowed(allowed, "image/png")
    assert not content_type_allowed(allowed, None)


def test_memory_store_is_bounded_lru():
    """Past max_bytes the least recently used entries go; an entry larger than the bound is refused."""
    clock = Clock()
    store = MemoryStore(clock, max_bytes=100)

    def entry(size: int) -> CachedResponse:
        return CachedResponse(200, [], b"x" * size, 0.0, 10)

    assert store.store("a", entry(40), 10)
    assert store.store("b", entry(40), 10)
    assert store.fetch("a") is not None  # a is now the most recently used
    assert store.store("c", entry(40), 10)
    assert store.fetch("b") is None and store.fetch("a") is not None
    assert store.used <= 100
    assert not store.store("huge", entry(200), 10)
    clock.advance(10)
    assert store.fetch("a") is None


def test_head_and_post_bypass():
    """Methods not configured are Bypass with no key."""
    handler = Handler()
    ctx = make_context("POST", "/x", clock=Clock(), route={"id": "r"})
    assert run_hook(handler, "access", ctx, _conf()) is None
    run_response(handler, ctx, _conf(), headers=JSON, body=b"{}")
    assert ctx.response_headers.get("X-Cache-Status") == "Bypass"
    assert ctx.response_headers.get("X-Cache-Key") is None
