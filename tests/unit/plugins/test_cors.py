"""cors: origin matching, preflight answers and response headers (Kong's handler rules)."""

from __future__ import annotations

import pytest

from kongtx.errors import ProxyExit
from kongtx.http.headers import Headers
from kongtx.plugins.cors.handler import CorsHandler as Handler
from kongtx.plugins.cors.policy import DEFAULT_METHODS, Policy, normalize_origin
from kongtx.plugins.testing import make_context
from kongtx.proxy.context import ProxyContext

BASE = {
    "origins": None,
    "headers": None,
    "exposed_headers": None,
    "methods": list(DEFAULT_METHODS.split(",")),
    "max_age": None,
    "credentials": False,
    "private_network": False,
    "preflight_continue": False,
    "allow_origin_absent": True,
}


def _conf(**changes) -> dict:
    return {**BASE, **changes}


def _ctx(method: str = "GET", headers: list[tuple[str, str]] | None = None) -> ProxyContext:
    return make_context(method, "/", headers or [])


def _preflight(conf: dict, headers: list[tuple[str, str]]) -> Headers | None:
    ctx = _ctx("OPTIONS", headers)
    try:
        Handler().access(ctx, conf)
    except ProxyExit as exc:
        assert exc.status == 200 and exc.message is None and exc.body is None
        return Headers(exc.headers)
    return None


def _response(
    conf: dict, headers: list[tuple[str, str]], upstream: list[tuple[str, str]] | None = None
) -> Headers:
    ctx = _ctx("GET", headers)
    handler = Handler()
    handler.access(ctx, conf)
    ctx.response_status = 200
    ctx.response_headers = Headers(upstream or [])
    handler.header_filter(ctx, conf)
    return ctx.response_headers


@pytest.mark.parametrize(
    "origin, domain, host",
    [
        ("http://example.com", "http://example.com", "example.com"),
        ("http://example.com:80", "http://example.com", "example.com"),
        ("https://example.com:443", "https://example.com", "example.com"),
        ("https://example.com:8443", "https://example.com:8443", "example.com"),
        ("http://example.com:443", "http://example.com:443", "example.com"),
        ("HTTP://example.com/path", "http://example.com", "example.com"),
        ("null", "null", "null"),
        ("example.com", "example.com", "example.com"),
    ],
)
def test_normalize_origin(origin, domain, host):
    """Origins normalize to scheme://host[:port] with default ports dropped."""
    assert normalize_origin(origin) == (domain, host)


def test_default_allows_any_origin_without_vary():
    """No origins: ACAO '*' and no Vary."""
    headers = _response(_conf(), [("Origin", "http://a.test")])
    assert headers.get("access-control-allow-origin") == "*"
    assert "vary" not in headers
    assert "access-control-allow-credentials" not in headers


def test_single_plain_origin_is_always_sent():
    """A single plain origin is the ACAO value whatever the request's Origin, with Vary."""
    conf = _conf(origins=["http://allowed.test"])
    for origin in ("http://allowed.test", "http://other.test"):
        headers = _response(conf, [("Origin", origin)])
        assert headers.get("access-control-allow-origin") == "http://allowed.test"
        assert headers.get_all("vary") == ["Origin"]


def test_listed_origins_are_echoed_normalized():
    """With several origins a matching Origin is echoed (normalized); others lose ACAO."""
    conf = _conf(origins=["http://a.test", "https://b.test:8443"])
    assert (
        _response(conf, [("Origin", "http://a.test:80")]).get("access-control-allow-origin")
        == "http://a.test"
    )
    assert (
        _response(conf, [("Origin", "https://b.test:8443")]).get("access-control-allow-origin")
        == "https://b.test:8443"
    )
    refused = _response(
        conf, [("Origin", "http://c.test")], upstream=[("Access-Control-Allow-Origin", "*")]
    )
    assert "access-control-allow-origin" not in refused
    assert refused.get_all("vary") == ["Origin"]


def test_regex_origins_match_host_or_full_origin():
    """Regex entries are anchored; without ':' they match the host only."""
    conf = _conf(origins=[r".*\.example\.com", r"^http://[a-z]+\.local:8080$"])
    policy = Policy(conf)
    assert policy.origin("https://api.example.com")[1] == "https://api.example.com"
    assert policy.origin("https://api.example.com.evil.test")[1] is None
    assert policy.origin("http://box.local:8080")[1] == "http://box.local:8080"
    assert policy.origin("http://box.local:9090")[1] is None


def test_single_regex_origin_is_matched_not_sent():
    """A single regex origin is matched against the request, not sent verbatim."""
    policy = Policy(_conf(origins=[r"(.*)\.test"]))
    assert policy.origin("http://a.test") == (False, "http://a.test", True)
    assert policy.origin("http://a.org") == (False, None, True)


def test_star_among_origins_allows_all():
    """'*' within a list allows any origin (with Vary) when the request has an Origin."""
    policy = Policy(_conf(origins=["http://a.test", "*"]))
    assert policy.origin("http://z.test") == (True, "*", True)
    assert policy.origin(None) == (False, None, True)


def test_credentials_with_wildcard_echo_the_origin():
    """credentials with ACAO '*' echo the request Origin, add Vary and ACAC."""
    headers = _response(_conf(credentials=True), [("Origin", "http://a.test")])
    assert headers.get("access-control-allow-origin") == "http://a.test"
    assert headers.get("access-control-allow-credentials") == "true"
    assert headers.get_all("vary") == ["Origin"]


def test_credentials_with_listed_origin():
    """credentials with a configured origin send ACAC true next to it."""
    headers = _response(
        _conf(credentials=True, origins=["http://a.test"]), [("Origin", "http://a.test")]
    )
    assert headers.get("access-control-allow-origin") == "http://a.test"
    assert headers.get("access-control-allow-credentials") == "true"


def test_exposed_headers_and_upstream_vary_kept():
    """exposed_headers are joined by ','; an upstream Vary is kept and Origin added."""
    conf = _conf(origins=["http://a.test"], exposed_headers=["X-One", "X-Two"])
    headers = _response(conf, [("Origin", "http://a.test")], upstream=[("Vary", "Accept-Encoding")])
    assert headers.get("access-control-expose-headers") == "X-One,X-Two"
    assert headers.get_all("vary") == ["Accept-Encoding", "Origin"]


def test_allow_origin_absent_false():
    """allow_origin_absent=false: no CORS headers without an Origin."""
    assert "access-control-allow-origin" not in _response(_conf(allow_origin_absent=False), [])
    assert _response(_conf(), []).get("access-control-allow-origin") == "*"


def test_preflight_defaults():
    """A preflight gets 200 with ACAO, all methods and echoed request headers."""
    headers = _preflight(
        _conf(),
        [
            ("Origin", "http://a.test"),
            ("Access-Control-Request-Method", "PUT"),
            ("Access-Control-Request-Headers", "X-Foo, X-Bar"),
        ],
    )
    assert headers.get("access-control-allow-origin") == "*"
    assert headers.get("access-control-allow-methods") == DEFAULT_METHODS
    assert headers.get("access-control-allow-headers") == "X-Foo, X-Bar"
    assert "access-control-max-age" not in headers
    assert "access-control-allow-credentials" not in headers


def test_preflight_configured():
    """Configured headers, methods, max_age, credentials and private network appear in the preflight."""
    conf = _conf(
        origins=["http://a.test"],
        headers=["X-A", "X-B"],
        methods=["GET", "POST"],
        max_age=3600.0,
        credentials=True,
        private_network=True,
    )
    headers = _preflight(
        conf,
        [
            ("Origin", "http://a.test"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "X-Other"),
            ("Access-Control-Request-Private-Network", "true"),
        ],
    )
    assert headers.get("access-control-allow-origin") == "http://a.test"
    assert headers.get("access-control-allow-headers") == "X-A,X-B"
    assert headers.get("access-control-allow-methods") == "GET,POST"
    assert headers.get("access-control-max-age") == "3600"
    assert headers.get("access-control-allow-credentials") == "true"
    assert headers.get("access-control-allow-private-network") == "true"
    assert headers.get_all("vary") == ["Origin"]


def test_private_network_only_when_requested():
    """Access-Control-Allow-Private-Network needs the request header set to 'true'."""
    headers = _preflight(
        _conf(private_network=True),
        [("Origin", "http://a.test"), ("Access-Control-Request-Method", "GET")],
    )
    assert "access-control-allow-private-network" not in headers


def test_not_a_preflight():
    """OPTIONS without Origin or Access-Control-Request-Method goes through."""
    assert _preflight(_conf(), [("Origin", "http://a.test")]) is None
    assert _preflight(_conf(), [("Access-Control-Request-Method", "GET")]) is None


def test_preflight_continue_passes_and_skips_headers():
    """preflight_continue lets the preflight through and adds no response headers."""
    conf = _conf(preflight_continue=True)
    ctx = _ctx("OPTIONS", [("Origin", "http://a.test"), ("Access-Control-Request-Method", "GET")])
    handler = Handler()
    handler.access(ctx, conf)
    ctx.response_headers = Headers()
    handler.header_filter(ctx, conf)
    assert "access-control-allow-origin" not in ctx.response_headers
