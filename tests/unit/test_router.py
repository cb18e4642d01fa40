"""Kong's router: field rules (proxy.md §1.2) and precedence (§1.3)."""

from __future__ import annotations

import random
import re
import time
from typing import Any

import pytest

from kongtx.http.headers import Headers
from kongtx.router import Match, Router

SERVICES = {"svc": {"id": "svc", "enabled": True, "path": None}}


def route(rid: str, **fields: Any) -> dict[str, Any]:
    """A route row in Kong's JSON shape with ``fields`` overriding defaults."""
    row: dict[str, Any] = {
        "id": rid,
        "name": rid,
        "protocols": ["http", "https"],
        "methods": None,
        "hosts": None,
        "paths": None,
        "headers": None,
        "snis": None,
        "regex_priority": 0,
        "strip_path": True,
        "preserve_host": False,
        "path_handling": "v0",
        "created_at": 1000,
        "service": {"id": "svc"},
    }
    row.update(fields)
    return row


def hit(
    routes: list[dict[str, Any]],
    method: str = "GET",
    host: str | None = "example.com",
    path: str = "/",
    headers: dict[str, str | list[str]] | None = None,
    scheme: str = "http",
    sni: str | None = None,
    server_port: int | None = None,
    services: dict[str, Any] | None = None,
) -> Match | None:
    """Route one request through a fresh router (cache off, so every call computes)."""
    router = Router(routes, SERVICES if services is None else services, cache_size=0)
    pairs = []
    for name, value in (headers or {}).items():
        for v in [value] if isinstance(value, str) else value:
            pairs.append((name, v))
    return router.match(method, host, path, Headers(pairs), scheme, sni, server_port)


def rid(match: Match | None) -> str | None:
    return None if match is None else match.route["id"]


# ---------------------------------------------------------------- hosts


def test_exact_host_matches_without_port() -> None:
    """An exact host matches the Host header with its port split off."""
    routes = [route("a", hosts=["example.com"])]
    assert rid(hit(routes, host="example.com")) == "a"
    assert rid(hit(routes, host="example.com:8000")) == "a"
    assert hit(routes, host="example.org") is None
    assert hit(routes, host="www.example.com") is None
    assert hit(routes, host=None) is None


def test_host_compared_case_sensitively() -> None:
    """The Host header is compared as given (proxy.md §1.1)."""
    assert hit([route("a", hosts=["example.com"])], host="Example.com") is None


def test_matched_host_reports_configured_entry() -> None:
    """matched_host is the configured host value that matched."""
    routes = [route("a", hosts=["other.com", "*.example.com"])]
    assert hit(routes, host="x.example.com").matched_host == "*.example.com"
    assert hit(routes, host="other.com").matched_host == "other.com"
    assert hit([route("b", paths=["/"])]).matched_host is None


def test_leftmost_wildcard_matches_one_or_more_labels() -> None:
    """`*.example.com` matches a.example.com and a.b.example.com but not example.com."""
    routes = [route("a", hosts=["*.example.com"])]
    assert rid(hit(routes, host="a.example.com")) == "a"
    assert rid(hit(routes, host="a.b.example.com:81")) == "a"
    assert hit(routes, host="example.com") is None
    assert hit(routes, host="aexample.com") is None
    assert hit(routes, host="a.example.org") is None


def test_rightmost_wildcard() -> None:
    """`example.*` matches example.com, example.org and example.co.uk only."""
    routes = [route("a", hosts=["example.*"])]
    assert rid(hit(routes, host="example.com")) == "a"
    assert rid(hit(routes, host="example.co.uk")) == "a"
    assert hit(routes, host="www.example.com") is None
    assert hit(routes, host="example") is None
    assert hit(routes, host="examples.com") is None


def test_host_with_port_uses_server_port() -> None:
    """`host:port` requires the port the request was received on when it is known."""
    routes = [route("a", hosts=["example.com:8000"])]
    assert rid(hit(routes, host="example.com", server_port=8000)) == "a"
    assert rid(hit(routes, host="example.com:9999", server_port=8000)) == "a"
    assert hit(routes, host="example.com:8000", server_port=9000) is None


def test_host_with_port_falls_back_to_host_header_and_scheme_default() -> None:
    """Without server_port: the Host header's port, else 80/443 by scheme."""
    assert rid(hit([route("a", hosts=["example.com:8000"])], host="example.com:8000")) == "a"
    assert hit([route("a", hosts=["example.com:8000"])], host="example.com") is None
    assert rid(hit([route("a", hosts=["example.com:80"])], host="example.com")) == "a"
    assert hit([route("a", hosts=["example.com:80"])], host="example.com", scheme="https") is None
    assert (
        rid(
            hit(
                [route("a", hosts=["example.com:443"])],
                host="example.com",
                scheme="https",
            )
        )
        == "a"
    )


def test_host_with_and_without_port_on_one_route() -> None:
    """A route listing example.com and example.com:8000 matches any port."""
    routes = [route("a", hosts=["example.com:8000", "example.com"])]
    assert rid(hit(routes, host="example.com", server_port=1234)) == "a"
    m = hit(
        [route("b", hosts=["example.com:8000", "example.com:9000"])],
        host="example.com",
        server_port=9000,
    )
    assert m.matched_host == "example.com:9000"


def test_wildcard_host_with_port() -> None:
    """A wildcard host with a port requires both."""
    routes = [route("a", hosts=["*.example.com:8443"])]
    assert rid(hit(routes, host="a.example.com", server_port=8443)) == "a"
    assert hit(routes, host="a.example.com", server_port=8000) is None


def test_ipv6_host_header() -> None:
    """A bracketed IPv6 Host header has its port split off correctly."""
    routes = [route("a", hosts=["[::1]"])]
    assert rid(hit(routes, host="[::1]:8000")) == "a"
    assert rid(hit(routes, host="[::1]")) == "a"


# ---------------------------------------------------------------- paths


def test_prefix_is_plain_string_prefix() -> None:
    """`/foo` matches /foo, /foo/bar and /foobar, not /fo or /bar/foo."""
    routes = [route("a", paths=["/foo"])]
    for path in ("/foo", "/foo/bar", "/foobar"):
        assert rid(hit(routes, path=path)) == "a"
    for path in ("/fo", "/bar/foo", "/", "/Foo"):
        assert hit(routes, path=path) is None


def test_prefix_match_fields() -> None:
    """A prefix match reports matched_path, prefix, postfix and the normalized path."""
    m = hit([route("a", paths=["/foo"])], path="/foo/./bar")
    assert (m.matched_path, m.prefix, m.postfix, m.path) == (
        "/foo",
        "/foo",
        "/bar",
        "/foo/bar",
    )
    assert m.uri_captures == {}


def test_route_without_path_postfix() -> None:
    """Without paths: no prefix, postfix is the path minus its leading '/'."""
    m = hit([route("a", hosts=["example.com"])], path="/x/y")
    assert (m.matched_path, m.prefix, m.postfix) == (None, None, "x/y")


def test_matching_uses_normalized_path() -> None:
    """Routing sees the normalized path: decoding, dot segments, merged slashes."""
    routes = [route("a", paths=["/bar"]), route("b", paths=["/foo/"])]
    assert rid(hit(routes, path="/foo/../bar")) == "a"
    assert rid(hit(routes, path="/%62ar")) == "a"
    assert rid(hit(routes, path="//foo//x")) == "b"
    assert hit(routes, path="/foo%2Fx") is None


def test_regex_anchored_at_start_only() -> None:
    """A `~` path is a regex anchored at the start, not at the end."""
    routes = [route("a", paths=[r"~/users/\d+"])]
    assert rid(hit(routes, path="/users/12")) == "a"
    assert rid(hit(routes, path="/users/12/items")) == "a"
    assert hit(routes, path="/api/users/12") is None
    assert hit(routes, path="/users/x") is None


def test_regex_captures_named_and_positional() -> None:
    """Named (PCRE `(?<n>)` syntax) and positional groups become uri_captures."""
    routes = [route("a", paths=[r"~/users/(?<user>\d+)/(\w+)(/x)?"])]
    m = hit(routes, path="/users/42/items/more")
    assert m.uri_captures == {
        0: "/users/42/items",
        1: "42",
        2: "items",
        3: None,
        "user": "42",
    }
    assert (m.prefix, m.postfix) == ("/users/42/items", "/more")
    assert m.matched_path == r"~/users/(?<user>\d+)/(\w+)(/x)?"


def test_regex_needing_backtracking_is_skipped() -> None:
    """Look-around (which the linear-time engine, like Kong's Rust router, cannot run)
    leaves the route out, reported; a named group is not mistaken for a lookbehind."""
    routes = [route("a", paths=[r"~/v\d(?<!0)/x"]), route("b", paths=[r"~/v(?<n>\d)/x"])]
    router = Router(routes, SERVICES)
    assert [e[0] for e in router.errors] == ["a"]
    m = router.match("GET", "x", "/v1/x", Headers(), "http")
    assert rid(m) == "b" and m.uri_captures["n"] == "1"


@pytest.mark.parametrize(
    "paths, headers",
    [([r"~/(a+)+$"], None), (["/"], {"x-q": [r"~*^(a|a)+$"]})],
    ids=["path", "header"],
)
def test_catastrophic_regex_matches_in_linear_time(paths, headers) -> None:  # type: ignore[no-untyped-def]
    """A regex that backtracks exponentially in Python's ``re`` is matched in linear time
    (a 29-byte path held every listener for 10.8 s with ``re``, 26 bytes 1 s)."""
    router = Router([route("evil", paths=paths, headers=headers)], SERVICES)
    evil = "a" * 25 + "!"
    started = time.perf_counter()
    found = router.match("GET", "x", "/" + evil, Headers([("X-Q", evil)]), "http")
    assert time.perf_counter() - started < 0.05
    assert found is None


def test_regex_captures_on_non_ascii_path() -> None:
    """Captures are character offsets also when the path has non-ASCII characters."""
    routes = [route("a", paths=[r"~/caf./(?<rest>.+)"])]
    m = hit(routes, path="/caf\u00e9/\u00e9t\u00e9")
    assert m.uri_captures["rest"] == "\u00e9t\u00e9" and m.prefix == "/caf\u00e9/\u00e9t\u00e9"


def test_route_with_several_regexes_reports_the_one_that_matched() -> None:
    """Among a route's regex paths, the first that matches is reported."""
    routes = [route("a", paths=[r"~/a(\d)", r"~/b(?<n>\d)"])]
    m = hit(routes, path="/b7")
    assert m.matched_path == r"~/b(?<n>\d)" and m.uri_captures["n"] == "7"


@pytest.mark.parametrize(
    "regex, path",
    [
        ("~/ab?c", "/ac"),
        ("~/a*", "/"),
        ("~/x{0,1}y", "/y"),
        ("~/a|/b", "/b"),
        ("~^/lit", "/lit/x"),
        (r"~/a\.b", "/a.b"),
        ("~(?i)/CASE", "/case"),
        ("~/[ab]c", "/bc"),
    ],
)
def test_regex_literal_prefix_index_keeps_optional_parts(regex: str, path: str) -> None:
    """Indexing regexes by literal prefix never hides a match (quantifiers, alternation, flags)."""
    routes = [route("re", paths=[regex]), route("other", paths=["/zzz"])]
    assert rid(hit(routes, path=path)) == "re"


def test_regex_group_with_and_without_literal() -> None:
    """A route mixing a literal-led regex and a bare one matches through either."""
    routes = [route("a", paths=["~/lit/x", r"~\/(\d+)"])]
    assert rid(hit(routes, path="/lit/x")) == "a"
    assert rid(hit(routes, path="/42")) == "a"


def test_invalid_regex_route_is_skipped() -> None:
    """A route with an invalid regex is left out and reported, others still route."""
    router = Router([route("bad", paths=["~/(unclosed"]), route("ok", paths=["/"])], SERVICES)
    assert [e[0] for e in router.errors] == ["bad"]
    assert rid(router.match("GET", "x", "/(unclosed", Headers(), "http")) == "ok"


# ---------------------------------------------------------------- methods, headers, snis


def test_methods_exact() -> None:
    """Methods are matched exactly; any listed method matches."""
    routes = [route("a", methods=["GET", "POST"])]
    assert rid(hit(routes, method="GET")) == "a"
    assert rid(hit(routes, method="POST")) == "a"
    assert hit(routes, method="PUT") is None
    assert hit(routes, method="get") is None


def test_headers_values_case_insensitive_or_within_and_across() -> None:
    """One of a header's values must match (case-insensitively); every header must match."""
    routes = [route("a", headers={"X-Version": ["v1", "V2"], "x-env": ["prod"]})]
    assert rid(hit(routes, headers={"x-version": "V1", "X-Env": "PROD"})) == "a"
    assert rid(hit(routes, headers={"x-version": "v2", "x-env": "prod"})) == "a"
    assert hit(routes, headers={"x-version": "v3", "x-env": "prod"}) is None
    assert hit(routes, headers={"x-version": "v1"}) is None
    assert hit(routes, headers={}) is None


def test_headers_any_instance_matches() -> None:
    """With a repeated header, any instance may match."""
    routes = [route("a", headers={"x-v": ["b"]})]
    assert rid(hit(routes, headers={"x-v": ["a", "B"]})) == "a"
    assert hit(routes, headers={"x-v": ["a", "c"]}) is None


def test_header_regex_value() -> None:
    """`~*regex` is a case-insensitive, unanchored regex on the value."""
    routes = [route("a", headers={"user-agent": [r"~*mozilla/\d"]})]
    assert rid(hit(routes, headers={"User-Agent": "curl Mozilla/5.0"})) == "a"
    assert hit(routes, headers={"User-Agent": "Mozilla/x"}) is None


def test_snis_only_for_https() -> None:
    """SNIs must match for https requests and are ignored for http."""
    routes = [route("a", snis=["api.example.com"])]
    assert rid(hit(routes, scheme="https", sni="api.example.com")) == "a"
    assert rid(hit(routes, scheme="https", sni="api.example.com.")) == "a"
    assert hit(routes, scheme="https", sni="www.example.com") is None
    assert hit(routes, scheme="https", sni=None) is None
    assert rid(hit(routes, scheme="http", sni=None)) == "a"


def test_wildcard_and_fqdn_snis() -> None:
    """Wildcard SNIs and a trailing dot in the configured SNI work."""
    assert (
        rid(
            hit(
                [route("a", snis=["*.example.com"])],
                scheme="https",
                sni="x.example.com",
            )
        )
        == "a"
    )
    assert hit([route("a", snis=["*.example.com"])], scheme="https", sni="example.com") is None
    assert (
        rid(
            hit(
                [route("a", snis=["api.example.com."])],
                scheme="https",
                sni="api.example.com",
            )
        )
        == "a"
    )


def test_all_fields_must_match() -> None:
    """A route matches only when every configured field matches."""
    routes = [
        route(
            "a",
            hosts=["example.com"],
            paths=["/foo"],
            methods=["GET"],
            headers={"x": ["1"]},
        )
    ]
    ok: dict[str, Any] = {
        "method": "GET",
        "host": "example.com",
        "path": "/foo",
        "headers": {"x": "1"},
    }
    assert rid(hit(routes, **ok)) == "a"
    for key, bad in (
        ("method", "POST"),
        ("host", "other.com"),
        ("path", "/bar"),
        ("headers", {"x": "2"}),
    ):
        assert hit(routes, **{**ok, key: bad}) is None


# ---------------------------------------------------------------- route set


def test_stream_routes_skipped_grpc_routes_match() -> None:
    """tcp/tls/udp routes are not HTTP routes; grpc/grpcs routes match like HTTP ones."""
    assert hit([route("t", protocols=["tcp", "tls"])]) is None
    assert hit([route("p", protocols=["tls_passthrough"])]) is None
    assert rid(hit([route("g", protocols=["grpc", "grpcs"])])) == "g"


def test_protocol_does_not_filter() -> None:
    """An https-only route still matches an http request (the core answers 426)."""
    assert rid(hit([route("a", protocols=["https"])], scheme="http")) == "a"


def test_disabled_service_routes_skipped() -> None:
    """Routes of a disabled service do not match; routes without a service do."""
    services = {"svc": {"id": "svc", "enabled": False}}
    assert hit([route("a", paths=["/"])], services=services) is None
    m = hit([route("b", paths=["/"], service=None)], services=services)
    assert rid(m) == "b" and m.service is None
    assert hit([route("c", paths=["/"])]).service == SERVICES["svc"]


# ---------------------------------------------------------------- precedence


def test_more_fields_first() -> None:
    """More configured fields win, even against a longer path."""
    routes = [
        route("paths", paths=["/foo/bar/baz"]),
        route("paths_methods", paths=["/foo"], methods=["GET"]),
    ]
    assert rid(hit(routes, path="/foo/bar/baz")) == "paths_methods"
    assert rid(hit(routes, method="POST", path="/foo/bar/baz")) == "paths"
    routes = [
        route("host", hosts=["example.com"]),
        route("host_path", hosts=["example.com"], paths=["/"]),
    ]
    assert rid(hit(routes, path="/x")) == "host_path"


def test_plain_host_beats_wildcard() -> None:
    """With equal field counts, routes with only plain hosts come first."""
    routes = [
        route("wild", hosts=["*.example.com"], created_at=1),
        route("plain", hosts=["api.example.com"], created_at=2),
    ]
    assert rid(hit(routes, host="api.example.com")) == "plain"
    assert rid(hit(routes, host="www.example.com")) == "wild"
    mixed = [
        route("mixed", hosts=["api.example.com", "*.other.com"], created_at=1),
        route("plain", hosts=["api.example.com"], created_at=2),
    ]
    assert rid(hit(mixed, host="api.example.com")) == "plain"


def test_plain_host_outranks_header_count() -> None:
    """Plain-hosts-only is more significant than the number of headers."""
    routes = [
        route("wild", hosts=["*.example.com"], headers={"a": ["1"], "b": ["2"]}),
        route("plain", hosts=["api.example.com"], headers={"a": ["1"]}),
    ]
    assert rid(hit(routes, host="api.example.com", headers={"a": "1", "b": "2"})) == "plain"


def test_more_headers_first() -> None:
    """More header conditions win."""
    routes = [
        route("one", headers={"x": ["1"]}, paths=["/long/path"]),
        route("two", headers={"x": ["1"], "y": ["2"]}, paths=["/"]),
    ]
    assert rid(hit(routes, path="/long/path", headers={"x": "1", "y": "2"})) == "two"
    assert rid(hit(routes, path="/long/path", headers={"x": "1"})) == "one"


def test_regex_beats_prefix() -> None:
    """A regex path is tried before any prefix path, however long."""
    routes = [
        route("prefix", paths=["/version/1/status"]),
        route("regex", paths=[r"~/version/\d+"]),
    ]
    assert rid(hit(routes, path="/version/1/status")) == "regex"


def test_regex_priority_kong_example() -> None:
    """Kong's documented order: /version/\\d+/status/\\d+ (6), /status/\\d+, /version/any/, /version."""
    routes = [
        route("status", paths=[r"~/status/\d+"], regex_priority=0, created_at=1),
        route(
            "version_status",
            paths=[r"~/version/\d+/status/\d+"],
            regex_priority=6,
            created_at=2,
        ),
        route("version", paths=["/version"], created_at=3),
        route("version_any", paths=["~/version/any/"], created_at=4),
    ]
    assert rid(hit(routes, path="/version/1/status/2")) == "version_status"
    assert rid(hit(routes, path="/status/2")) == "status"
    assert rid(hit(routes, path="/version/any/x")) == "version_any"
    assert rid(hit(routes, path="/version/x")) == "version"
    assert rid(hit(routes, path="/version")) == "version"


def test_regex_priority_higher_first_and_ignored_for_prefix() -> None:
    """regex_priority orders regex routes only; prefixes still go by length."""
    routes = [
        route("low", paths=[r"~/a"], regex_priority=1, created_at=1),
        route("high", paths=[r"~/a"], regex_priority=5, created_at=2),
    ]
    assert rid(hit(routes, path="/a")) == "high"
    routes = [
        route("short", paths=["/a"], regex_priority=10, created_at=1),
        route("long", paths=["/ab"], created_at=2),
    ]
    assert rid(hit(routes, path="/abc")) == "long"


def test_negative_regex_priority() -> None:
    """A negative regex_priority sorts below the default 0."""
    routes = [
        route("neg", paths=[r"~/a"], regex_priority=-1, created_at=1),
        route("zero", paths=[r"~/a"], created_at=2),
    ]
    assert rid(hit(routes, path="/a")) == "zero"


def test_longest_prefix_first() -> None:
    """Among prefix paths the longest wins."""
    routes = [
        route("service", paths=["/service"]),
        route("resource", paths=["/service/resource"]),
    ]
    assert rid(hit(routes, path="/service/resource/1")) == "resource"
    assert rid(hit(routes, path="/service/other")) == "service"


def test_routes_split_per_path_length() -> None:
    """traditional_compatible: a route competes with the length of the path that matched."""
    routes = [
        route("multi", paths=["/a", "/abcdef"], created_at=1),
        route("mid", paths=["/abc"], created_at=2),
    ]
    assert rid(hit(routes, path="/abcx")) == "mid"
    assert rid(hit(routes, path="/abcdefg")) == "multi"
    assert rid(hit(routes, path="/ax")) == "multi"


def test_route_regex_group_before_its_prefixes() -> None:
    """A route's regex paths form one matcher, ranked above prefix matchers."""
    routes = [
        route("long", paths=["/items/special"], created_at=1),
        route("mixed", paths=["/x", r"~/items/\w+"], created_at=2),
    ]
    m = hit(routes, path="/items/special")
    assert rid(m) == "mixed" and m.matched_path == r"~/items/\w+"


def test_tie_oldest_first() -> None:
    """Identical priorities: the oldest created_at wins (the traditional tie-break)."""
    routes = [
        route("new", paths=["/a"], created_at=20),
        route("old", paths=["/a"], created_at=10),
    ]
    assert rid(hit(routes, path="/a")) == "old"


def test_more_fields_outranks_plain_host() -> None:
    """Field count is more significant than plain-hosts-only."""
    routes = [
        route("plain", hosts=["api.example.com"]),
        route("wild_path", hosts=["*.example.com"], paths=["/"]),
    ]
    assert rid(hit(routes, host="api.example.com")) == "wild_path"


def test_headers_outrank_regex() -> None:
    """Header count is more significant than regex vs prefix."""
    routes = [
        route("regex", paths=[r"~/a"], headers={"x": ["1"]}, created_at=2),
        route("prefix", paths=["/a"], headers={"x": ["1"], "y": ["1"]}, created_at=1),
    ]
    assert rid(hit(routes, path="/a", headers={"x": "1", "y": "1"})) == "prefix"


def test_sni_counts_as_a_field() -> None:
    """snis add to the number of fields."""
    routes = [
        route("path", paths=["/"]),
        route("path_sni", paths=["/"], snis=["a.com"]),
    ]
    assert rid(hit(routes, scheme="https", sni="a.com")) == "path_sni"
    assert rid(hit(routes, scheme="https", sni="b.com")) == "path"


def test_host_buckets_and_hostless_routes_compete_by_priority() -> None:
    """A host-less route with higher priority beats a host route from another bucket."""
    routes = [
        route("host", hosts=["example.com"]),
        route("path_method", paths=["/"], methods=["GET"]),
    ]
    assert rid(hit(routes)) == "path_method"


# ---------------------------------------------------------------- cache


def test_cache_keys_on_header_values() -> None:
    """Cached results depend on the headers routes look at."""
    router = Router([route("v1", headers={"x-v": ["1"]}), route("any", paths=["/"])], SERVICES)
    for _ in range(2):
        assert rid(router.match("GET", "h", "/", Headers([("X-V", "1")]), "http")) == "v1"
        assert rid(router.match("GET", "h", "/", Headers([("X-V", "2")]), "http")) == "any"
        assert rid(router.match("GET", "h", "/", Headers(), "http")) == "any"


def test_cache_is_bounded() -> None:
    """The recent-request cache never grows past its size."""
    router = Router([route("a", paths=["/"])], SERVICES, cache_size=8)
    for i in range(50):
        assert rid(router.match("GET", "h", f"/{i}", Headers(), "http")) == "a"
        assert router.match("GET", "h", "", Headers(), "http") is None
    assert len(router._cache) <= 8


def test_cached_and_uncached_agree() -> None:
    """Cached matches equal freshly computed ones, including misses."""
    routes = [route("a", paths=["/a"]), route("b", hosts=["b.com"])]
    cached, fresh = Router(routes, SERVICES), Router(routes, SERVICES, cache_size=0)
    for path, host in [("/a", "x"), ("/b", "b.com"), ("/c", "x")] * 2:
        assert cached.match("GET", host, path, None, "http") == fresh.match(
            "GET", host, path, None, "http"
        )


# ---------------------------------------------------------------- scale


def _oracle(routes: list[dict[str, Any]], method: str, host: str, path: str) -> str | None:
    """A linear reference matcher: sort candidate (route, path-group)s and take the first."""
    best = None
    for r in routes:
        if r["methods"] and method not in r["methods"]:
            continue
        hosts = r["hosts"] or []
        if hosts:
            ok = False
            for h in hosts:
                if h.startswith("*"):
                    ok = ok or (host.endswith(h[1:]) and len(host) > len(h) - 1)
                elif h.endswith("*"):
                    ok = ok or (host.startswith(h[:-1]) and len(host) > len(h) - 1)
                else:
                    ok = ok or host == h
            if not ok:
                continue
        weight = bool(r["methods"]) + bool(hosts) + bool(r["paths"])
        plain = bool(hosts) and not any("*" in h for h in hosts)
        paths = r["paths"] or [None]
        for p in paths:
            if p is None:
                key = (-weight, -plain, 0, 0, 0)
            elif p.startswith("~"):
                if not re.match(p[1:], path):
                    continue
                key = (-weight, -plain, -1, -r["regex_priority"], 0)
            else:
                if not path.startswith(p):
                    continue
                key = (-weight, -plain, 0, 0, -len(p))
            key += (r["created_at"], r["id"])
            if best is None or key < best[0]:
                best = (key, r["id"])
    return None if best is None else best[1]


def _generate(n: int, rnd: random.Random) -> list[dict[str, Any]]:
    routes = []
    for i in range(n):
        kind = i % 10
        created = rnd.randrange(1000)
        if kind < 4:
            r = route(
                f"r{i}",
                hosts=[f"h{i % 300}.example.com"],
                paths=[f"/p{i % 700}/{'x' * (i % 5)}"],
                created_at=created,
            )
        elif kind < 6:
            r = route(f"r{i}", paths=[f"/q{i}", f"/q{i}/deep"], created_at=created)
        elif kind == 6:
            r = route(f"r{i}", hosts=[f"*.w{i % 50}.example.com"], created_at=created)
        elif kind == 7:
            r = route(
                f"r{i}",
                hosts=[f"h{i % 300}.example.com"],
                methods=["POST"],
                created_at=created,
            )
        elif kind == 8:
            r = route(
                f"r{i}",
                hosts=[f"site{i % 40}.*"],
                paths=[f"/s{i % 90}"],
                created_at=created,
            )
        else:
            if i % 500 == 9:
                r = route(
                    f"r{i}",
                    paths=[rf"~/re{i % 7}/\d+"],
                    regex_priority=i % 3,
                    created_at=created,
                )
            else:
                r = route(
                    f"r{i}",
                    paths=[f"/z{i}"],
                    methods=["GET", "PUT"],
                    created_at=created,
                )
        routes.append(r)
    return routes


def test_ten_thousand_routes_agree_with_linear_oracle() -> None:
    """With 10,000 routes, the indexed router picks what a linear scan in Kong's order picks."""
    rnd = random.Random(1234)
    routes = _generate(10_000, rnd)
    router = Router(routes, SERVICES, cache_size=0)
    assert len(router) == 10_000 + 2_000  # routes with two prefix lengths split in two
    requests = []
    for _ in range(600):
        i = rnd.randrange(10_000)
        kind = i % 10
        if kind < 4 or kind == 7:
            host, path = (
                f"h{i % 300}.example.com",
                rnd.choice([f"/p{i % 700}/xx", "/x"]),
            )
        elif kind < 6:
            host, path = "nowhere.net", rnd.choice([f"/q{i}/deep/1", f"/q{i}"])
        elif kind == 6:
            host, path = (
                rnd.choice([f"a.b.w{i % 50}.example.com", f"w{i % 50}.example.com"]),
                "/",
            )
        elif kind == 8:
            host, path = f"site{i % 40}.org", rnd.choice([f"/s{i % 90}/", "/s"])
        else:
            host, path = (
                "nowhere.net",
                rnd.choice([f"/z{i}", f"/re{i % 7}/{i}", "/re1/x"]),
            )
        method = rnd.choice(["GET", "POST", "PUT"])
        requests.append((method, host, path))
    matched = 0
    for method, host, path in requests:
        expected = _oracle(routes, method, host, path)
        assert rid(router.match(method, host, path, Headers(), "http")) == expected, (
            method,
            host,
            path,
        )
        matched += expected is not None
    assert 250 < matched < 550  # the sample exercises both hits and misses
