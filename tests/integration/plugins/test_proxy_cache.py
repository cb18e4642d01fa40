"""proxy-cache (memory strategy) end to end: misses, hits, bypasses, vary keys, TTLs, purges."""

from __future__ import annotations

import pytest_twisted

from tests.integration.harness import gateway_and_upstream

PLUGINS = "key-auth,proxy-cache"


def _counted(exchange) -> None:
    """``/count?type=..&cc=..``: a body numbering the upstream's answers, with the given
    Content-Type and Cache-Control."""
    upstream = exchange.upstream
    upstream.answered = getattr(upstream, "answered", 0) + 1
    args = dict(
        pair.split("=", 1) for pair in (exchange.request.query or "").split("&") if "=" in pair
    )
    headers = [("Content-Type", args.get("type", "application/json").replace("%2F", "/"))]
    if "cc" in args:
        headers.append(("Cache-Control", args["cc"].replace("%3D", "=").replace("+", " ")))
    status = int(args.get("status", "200"))
    exchange.respond(status, b'{"n": %d}' % upstream.answered, headers)


@pytest_twisted.async_yield_fixture
async def env(tmp_path):
    async with gateway_and_upstream(tmp_path, plugins=PLUGINS, service="svc") as pair:
        pair[1].route("/count", _counted)
        yield pair


async def _cache_route(gw, name: str, **config) -> str:
    await gw.route_with_plugin(name, "proxy-cache", {"strategy": "memory", **config})
    plugins = (await gw.admin("GET", f"/routes/{name}/plugins")).json["data"]
    return plugins[0]["id"]


@pytest_twisted.ensureDeferred
async def test_miss_then_hit_with_age_and_key(env):
    """First request Miss (upstream), second Hit from memory with the same key, the body and an Age."""
    gw, upstream = env
    await _cache_route(gw, "c1")
    first = await gw.proxy("GET", "/c1/count")
    assert first.status == 200
    assert first.header("X-Cache-Status") == "Miss"
    key = first.header("X-Cache-Key")
    assert key and len(key) == 64
    second = await gw.proxy("GET", "/c1/count")
    assert second.header("X-Cache-Status") == "Hit"
    assert second.header("X-Cache-Key") == key
    assert second.body == first.body
    assert second.header("Content-Type") == "application/json"
    assert second.header("Age") == "0"
    assert upstream.answered == 1
    # A different query string is another entry.
    third = await gw.proxy("GET", "/c1/count?x=1")
    assert third.header("X-Cache-Status") == "Miss"
    assert third.header("X-Cache-Key") != key


@pytest_twisted.ensureDeferred
async def test_bypass_for_method_status_and_content_type(env):
    """POST, a status or a content type not configured: Bypass, nothing stored."""
    gw, upstream = env
    await _cache_route(gw, "c2")
    post = await gw.proxy("POST", "/c2/count", data=b"x")
    assert post.header("X-Cache-Status") == "Bypass"
    assert post.header("X-Cache-Key") is None
    for query in ("status=500", "type=text%2Fhtml"):
        for _ in range(2):
            reply = await gw.proxy("GET", f"/c2/count?{query}")
            assert reply.header("X-Cache-Status") == "Bypass", query
    assert upstream.answered == 5


@pytest_twisted.ensureDeferred
async def test_vary_query_params_and_headers(env):
    """vary_query_params: only those params make the key; vary_headers: their values do too."""
    gw, upstream = env
    await _cache_route(gw, "c3", vary_query_params=["page"], vary_headers=["X-Lang"])
    a = await gw.proxy("GET", "/c3/count?page=1&noise=a", headers={"X-Lang": "en"})
    b = await gw.proxy("GET", "/c3/count?noise=b&page=1", headers={"X-Lang": "en"})
    assert (a.header("X-Cache-Status"), b.header("X-Cache-Status")) == ("Miss", "Hit")
    c = await gw.proxy("GET", "/c3/count?page=1", headers={"X-Lang": "fr"})
    assert c.header("X-Cache-Status") == "Miss"
    d = await gw.proxy("GET", "/c3/count?page=2", headers={"X-Lang": "en"})
    assert d.header("X-Cache-Status") == "Miss"
    assert upstream.answered == 3


@pytest_twisted.ensureDeferred
async def test_per_consumer_entries_and_ignore_uri_case(env):
    """Consumers get their own entries; ignore_uri_case folds the path's case."""
    gw, upstream = env
    await gw.route_with_plugin("c4", "key-auth", {})
    await gw.admin(
        "POST",
        "/routes/c4/plugins",
        {"name": "proxy-cache", "config": {"strategy": "memory", "ignore_uri_case": True}},
    )
    for user, key in (("ann", "ka"), ("bob", "kb")):
        await gw.admin("POST", "/consumers", {"username": user})
        await gw.admin("POST", f"/consumers/{user}/key-auth", {"key": key})
    ann = await gw.proxy("GET", "/c4/count", headers={"apikey": "ka"})
    bob = await gw.proxy("GET", "/c4/count", headers={"apikey": "kb"})
    assert (ann.header("X-Cache-Status"), bob.header("X-Cache-Status")) == ("Miss", "Miss")
    assert ann.header("X-Cache-Key") != bob.header("X-Cache-Key")
    again = await gw.proxy("GET", "/c4/COUNT", headers={"apikey": "ka"})
    assert again.header("X-Cache-Status") == "Hit"
    assert upstream.answered == 2


@pytest_twisted.ensureDeferred
async def test_cache_control(env):
    """With cache_control: public max-age responses are cached, no-store requests and private
    responses bypass, only-if-cached without an entry is a 504 (TTLs: the unit tests' clock)."""
    gw, _upstream = env
    await _cache_route(gw, "c6", cache_control=True)
    path = "/c6/count?cc=public,+max-age%3D60"
    assert (await gw.proxy("GET", path)).header("X-Cache-Status") == "Miss"
    assert (await gw.proxy("GET", path)).header("X-Cache-Status") == "Hit"
    no_store = await gw.proxy("GET", path, headers={"Cache-Control": "no-store"})
    assert no_store.header("X-Cache-Status") == "Bypass"
    private = "/c6/count?cc=private"
    assert (await gw.proxy("GET", private)).header("X-Cache-Status") == "Bypass"
    assert (await gw.proxy("GET", private)).header("X-Cache-Status") == "Bypass"
    only = await gw.proxy("GET", "/c6/never", headers={"Cache-Control": "only-if-cached"})
    assert only.status == 504


@pytest_twisted.ensureDeferred
async def test_response_headers_toggle_and_kong_debug(env):
    """response_headers off hides X-Cache-*; a Kong-Debug request header shows them anyway."""
    gw, _upstream = env
    shown = {"age": False, "X-Cache-Status": False, "X-Cache-Key": False}
    await _cache_route(gw, "c7", response_headers=shown)
    quiet = await gw.proxy("GET", "/c7/count")
    assert quiet.header("X-Cache-Status") is None and quiet.header("X-Cache-Key") is None
    hit = await gw.proxy("GET", "/c7/count")
    assert hit.header("Age") is None and hit.header("X-Cache-Status") is None
    debug = await gw.proxy("GET", "/c7/count", headers={"Kong-Debug": "1"})
    assert debug.header("X-Cache-Status") == "Hit"
    assert debug.header("Age") is not None


@pytest_twisted.ensureDeferred
async def test_admin_endpoints_read_and_purge(env):
    """GET/DELETE /proxy-cache/{plugin}/caches/{key}, GET/DELETE /proxy-cache/{key}, DELETE /proxy-cache."""
    gw, upstream = env
    plugin = await _cache_route(gw, "c8")
    key = (await gw.proxy("GET", "/c8/count")).header("X-Cache-Key")
    entry = await gw.admin("GET", f"/proxy-cache/{plugin}/caches/{key}")
    assert entry.status == 200
    assert entry.json["status"] == 200
    assert entry.json["body"] == '{"n": 1}'
    assert entry.json["headers"]["Content-Type"] == "application/json"
    assert (await gw.admin("GET", f"/proxy-cache/{key}")).status == 200
    assert (await gw.admin("DELETE", f"/proxy-cache/{plugin}/caches/{key}")).status == 204
    assert (await gw.admin("GET", f"/proxy-cache/{plugin}/caches/{key}")).status == 404
    assert (await gw.admin("DELETE", f"/proxy-cache/{plugin}/caches/{key}")).status == 404
    assert (await gw.proxy("GET", "/c8/count")).header("X-Cache-Status") == "Miss"
    assert (await gw.admin("DELETE", f"/proxy-cache/{key}")).status == 204
    assert (await gw.admin("GET", f"/proxy-cache/{key}")).status == 404
    await gw.proxy("GET", "/c8/count")
    assert (await gw.admin("DELETE", "/proxy-cache")).status == 204
    assert (await gw.proxy("GET", "/c8/count")).header("X-Cache-Status") == "Miss"
    assert upstream.answered == 4
    missing = "00000000-0000-0000-0000-000000000001"
    assert (await gw.admin("GET", f"/proxy-cache/{missing}/caches/{key}")).status == 404
