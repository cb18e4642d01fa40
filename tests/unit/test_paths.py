"""Path normalization and upstream path building (proxy.md §1.1, §2.1)."""

from __future__ import annotations

import pytest

from kongtx.http.headers import Headers
from kongtx.proxy.header_rewrite import valid_host
from kongtx.proxy.paths import (
    climbs_above_root,
    escape_path,
    normalize_path,
    sanitize_postfix,
    upstream_path,
)
from kongtx.router import Router


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("/", "/"),
        ("", ""),
        ("/foo/bar", "/foo/bar"),
        ("/%66%6F%6f", "/foo"),
        ("/a%7eb", "/a~b"),
        ("/a%2fb", "/a%2Fb"),
        ("/a%2Fb", "/a%2Fb"),
        ("/a%3fb%23c%25d", "/a%3Fb%23c%25d"),
        ("/a%20b", "/a b"),
        ("/caf%C3%A9", "/caf\xc3\xa9"),
        ("/%41%2a%21%3a%40", "/A%2A%21%3A%40"),
        ("/a%zzb", "/a%zzb"),
        ("/a/./b", "/a/b"),
        ("/a/../b", "/b"),
        ("/a/b/..", "/a/"),
        ("/a/b/.", "/a/b/"),
        ("/..", "/"),
        ("/../../a", "/a"),
        ("/a/%2E%2E/b", "/b"),
        ("/a/%2e/b", "/a/b"),
        ("//a///b//", "/a/b/"),
        ("/a//../b", "/b"),
        ("/a/.b/..c/", "/a/.b/..c/"),
        ("/foo./bar", "/foo./bar"),
    ],
)
def test_normalize_path(raw: str, expected: str) -> None:
    """Percent-decoding (reserved kept, upper-cased), dot segments and // merge follow Kong."""
    assert normalize_path(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("/plain/path-_.~", "/plain/path-_.~"),
        ("/a b", "/a%20b"),
        ("/caf\xe9", "/caf%E9"),
        ("/a%2Fb", "/a%2Fb"),
        ("/!#$&'()*+,/:;=?@[]", "/!#$&'()*+,/:;=?@[]"),
        ('/"<>\\^`{|}', "/%22%3C%3E%5C%5E%60%7B%7C%7D"),
        ("/\x00\x7f", "/%00%7F"),
        ("/\u20ac", "/%E2%82%AC"),
    ],
)
def test_escape_path(raw: str, expected: str) -> None:
    """Only characters outside Kong's safe set are percent-encoded."""
    assert escape_path(raw) == expected


@pytest.mark.parametrize(
    "postfix, expected",
    [
        ("", ""),
        (".", ""),
        ("..", ""),
        ("./a", "a"),
        ("../a", "a"),
        (".a", ".a"),
        ("/a", "/a"),
    ],
)
def test_sanitize_postfix(postfix: str, expected: str) -> None:
    """A leading ./ or ../ is removed from the postfix."""
    assert sanitize_postfix(postfix) == expected


def _route(paths: list[str] | None, strip: bool = True, handling: str = "v0") -> dict:
    return {
        "id": "r1",
        "protocols": ["http", "https"],
        "paths": paths,
        "hosts": None,
        "methods": None,
        "headers": None,
        "snis": None,
        "regex_priority": 0,
        "strip_path": strip,
        "path_handling": handling,
        "created_at": 1,
        "service": {"id": "s1"},
    }


def _upstream(
    service_path: str | None,
    route_paths: list[str] | None,
    request: str,
    strip: bool = True,
    handling: str = "v0",
) -> str:
    router = Router([_route(route_paths, strip, handling)], {"s1": {"id": "s1"}})
    match = router.match("GET", "example.com", request, Headers(), "http")
    assert match is not None
    return upstream_path(service_path, match, strip, handling)


@pytest.mark.parametrize(
    "service_path, request_path, expected",
    [
        (None, "/foo", "/"),
        (None, "/foo/", "/"),
        (None, "/foo/bar", "/bar"),
        (None, "/foobar", "/bar"),
        ("/svc", "/foo", "/svc"),
        ("/svc", "/foo/", "/svc/"),
        ("/svc", "/foo/bar", "/svc/bar"),
        ("/svc", "/foobar", "/svc/bar"),
    ],
)
def test_reference_examples_strip(
    service_path: str | None, request_path: str, expected: str
) -> None:
    """proxy.md §2.1 examples: route /foo, strip_path=true."""
    assert _upstream(service_path, ["/foo"], request_path) == expected


def test_reference_example_no_strip() -> None:
    """proxy.md §2.1 example: strip_path=false, service /svc: /foo/bar -> /svc/foo/bar."""
    assert _upstream("/svc", ["/foo"], "/foo/bar", strip=False) == "/svc/foo/bar"


@pytest.mark.parametrize(
    "service_path, route_path, request_path, expected",
    [
        # base ends with "/", strip: empty postfix, base "/" -> "/"
        ("/", "/foo", "/foo", "/"),
        # empty postfix, request ends with "/" -> base
        ("/svc/", "/foo/", "/foo/", "/svc/"),
        # empty postfix, request does not end with "/" -> base minus "/"
        ("/svc/", "/foo", "/foo", "/svc"),
        # postfix starts with "/" -> base minus "/" + postfix
        ("/svc/", "/foo", "/foo/bar", "/svc/bar"),
        # otherwise base + postfix
        ("/svc/", "/foo", "/foobar", "/svc/bar"),
        ("/svc/", "/foo/", "/foo/bar", "/svc/bar"),
        # base without "/", strip: empty postfix, request longer than "/" ending "/" -> base + "/"
        ("/svc", "/foo/", "/foo/", "/svc/"),
        ("/svc", "/", "/", "/svc"),
        # empty postfix otherwise -> base
        ("/svc", "/foo", "/foo", "/svc"),
        # postfix starts with "/" -> base + postfix
        ("/svc", "/foo", "/foo/bar/", "/svc/bar/"),
        # otherwise base + "/" + postfix
        ("/svc", "/foo/", "/foo/bar", "/svc/bar"),
    ],
)
def test_v0_strip_rows(
    service_path: str, route_path: str, request_path: str, expected: str
) -> None:
    """Every strip_path=true branch of the v0 table."""
    assert _upstream(service_path, [route_path], request_path) == expected


@pytest.mark.parametrize(
    "service_path, request_path, expected",
    [
        # base ends with "/": base + request minus leading "/"
        ("/", "/foo/bar", "/foo/bar"),
        ("/svc/", "/foo/bar", "/svc/foo/bar"),
        ("/svc/", "/foo", "/svc/foo"),
        # base without "/": request "/" -> base, else base + request
        ("/svc", "/foo", "/svc/foo"),
        ("/svc", "/foo/", "/svc/foo/"),
    ],
)
def test_v0_no_strip_rows(service_path: str, request_path: str, expected: str) -> None:
    """Every strip_path=false branch of the v0 table."""
    assert _upstream(service_path, ["/foo"], request_path, strip=False) == expected


def test_v0_no_strip_root_request() -> None:
    """strip_path=false, base without '/', request '/' -> base."""
    assert _upstream("/svc", None, "/", strip=False) == "/svc"
    assert _upstream("/svc", ["/"], "/", strip=False) == "/svc"


def test_route_without_paths_strips_nothing() -> None:
    """A route matched without a path strips nothing even with strip_path=true."""
    assert _upstream("/svc", None, "/foo/bar") == "/svc/foo/bar"
    assert _upstream(None, None, "/foo/bar") == "/foo/bar"
    assert _upstream("/svc/", None, "/foo") == "/svc/foo"
    assert _upstream("/svc", None, "/") == "/svc"


def test_regex_prefix_is_stripped() -> None:
    """For a regex path the matched text is the stripped prefix."""
    assert _upstream("/svc", [r"~/users/\d+"], "/users/42/items") == "/svc/items"
    assert _upstream(None, [r"~/users/\d+"], "/users/42") == "/"


def test_postfix_dot_prefix_removed() -> None:
    """A postfix starting with ./ (from /foo./bar) loses it."""
    assert _upstream("/svc", ["/foo"], "/foo./bar") == "/svc/bar"


@pytest.mark.parametrize(
    "service_path, route_path, request_path, strip, expected",
    [
        # Kong's path_handling table: /s, route /fv1, request /fv1req
        ("/s", "/fv1", "/fv1req", False, "/sfv1req"),
        ("/s", "/tv1", "/tv1req", True, "/sreq"),
        ("/s", "/fv1/", "/fv1/req", False, "/sfv1/req"),
        ("/s", "/tv1/", "/tv1/req", True, "/sreq"),
        ("/svc", "/foo", "/foobar", True, "/svcbar"),
        ("/svc", "/foo", "/foo", False, "/svcfoo"),
        ("/svc", "/foo", "/foo/bar", True, "/svc/bar"),
        ("/svc/", "/foo", "/foo/bar", True, "/svc/bar"),
        ("/svc/", "/foo", "/foo/bar", False, "/svc/foo/bar"),
        ("/svc", "/foo", "/foo", True, "/svc"),
        (None, "/foo", "/foo/bar", True, "/bar"),
        (None, "/foo", "/foo/bar", False, "/foo/bar"),
    ],
)
def test_v1(
    service_path: str | None,
    route_path: str,
    request_path: str,
    strip: bool,
    expected: str,
) -> None:
    """path_handling v1 concatenates, dropping one '/' only between '/'-ended base and '/'-led tail."""
    assert _upstream(service_path, [route_path], request_path, strip, "v1") == expected


def test_upstream_path_is_escaped() -> None:
    """The built path is re-escaped; reserved escapes stay as received."""
    assert _upstream("/svc", ["/foo"], "/foo/a%20b%2Fc") == "/svc/a%20b%2Fc"
    assert _upstream("/svc", ["/foo"], "/foo/caf%C3%A9") == "/svc/caf%C3%A9"
    assert _upstream("/svc", ["/foo"], "/foo/a b") == "/svc/a%20b"


@pytest.mark.parametrize(
    "raw, above",
    [
        ("/", False),
        ("/a/b", False),
        ("/a/../b", False),
        ("/a/%2e%2e/b", False),
        ("/a/./../b/..", False),
        ("/..", True),
        ("/../etc/passwd", True),
        ("/%2e%2e/%2e%2e/etc/passwd", True),
        ("/%2E./x", True),
        ("/a//../../x", True),
        ("/a/b/../../../x", True),
        ("/...", False),
        ("/a.b/..c", False),
    ],
)
def test_climbs_above_root(raw: str, above: bool) -> None:
    """nginx's 400 case: dot-segments (also percent-encoded) that climb above the root."""
    assert climbs_above_root(raw) is above


@pytest.mark.parametrize(
    "value, ok",
    [
        (None, True),
        ("example.com", True),
        ("example.com.", True),
        ("example.com:8000", True),
        ("[::1]:8000", True),
        ("", False),
        ("a b", False),
        ("a\tb", False),
        ("a/b", False),
        ("a\\b", False),
        ("user@example.com", False),
        ("a..b", False),
        ("a\x00b", False),
        (".", False),
    ],
)
def test_valid_host(value: str | None, ok: bool) -> None:
    """Host values nginx refuses (and userinfo) are invalid; absent is fine (HTTP/1.0)."""
    assert valid_host(value) is ok
