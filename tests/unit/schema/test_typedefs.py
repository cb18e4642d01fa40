"""Unit tests for kongtx.schema.typedefs (Kong's typedef messages)."""

from __future__ import annotations

import pytest

from kongtx.schema import typedefs as t


@pytest.mark.parametrize(
    "field, value, message",
    [
        (t.host, "example.com", None),
        (t.host, "10.0.0.1", None),
        (t.host, "example.com:80", "must not have a port"),
        (t.host, "exa mple", "invalid value: exa mple"),
        (t.host_with_optional_port, "example.com:8080", None),
        (t.host_with_optional_port, "[::1]:80", None),
        (t.host_with_optional_port, "example.com:99999", "invalid port number"),
        (t.host_with_optional_port, "bad host", "invalid hostname: bad host"),
        (t.sni, "example.com", None),
        (t.sni, "10.0.0.1", "must not be an IP"),
        (t.sni, "example.com:443", "must not have a port"),
        (t.wildcard_host, "*.example.com", None),
        (t.wildcard_host, "example.*", None),
        (
            t.wildcard_host,
            "ex*ample.com",
            "wildcard must be leftmost or rightmost character",
        ),
        (t.wildcard_host, "*.example.*", "only one wildcard must be specified"),
        (t.ip, "192.168.0.1", None),
        (t.ip, "::1", None),
        (t.ip, "example.com", "not an ip address: example.com"),
        (t.ip_or_cidr, "10.0.0.0/8", None),
        (t.ip_or_cidr, "10.0.0.1", None),
        (t.ip_or_cidr, "10.0.0.0/99", "invalid ip or cidr range: '10.0.0.0/99'"),
        (t.port, 65536, "value should be between 0 and 65535"),
        (t.path, "/a/b", None),
        (t.path, "a", "should start with: /"),
        (t.path, "/a//b", "must not have empty segments"),
        (
            t.path,
            "/a b",
            "invalid path: '/a b' (characters outside of the reserved list of RFC 3986 found)",
        ),
        (t.path, "/a%zz", "invalid url-encoded value: '%zz'"),
        (t.header_name, "X-Foo_1", None),
        (
            t.header_name,
            "X Foo",
            "bad header name 'X Foo', allowed characters are A-Z, a-z, 0-9, '_', and '-'",
        ),
        (t.name, "my-svc.v1_~", None),
        (t.name, "ünïcode", None),
        (
            t.name,
            "bad name",
            "invalid value 'bad name': the only accepted ascii characters "
            "are alphanumerics or ., -, _, and ~",
        ),
        (t.url, "http://example.com/x", None),
        (t.url, "http://", "missing host in url"),
        (t.url, "example.com", "missing host in url"),
        (t.url, "//example.com", "missing scheme in url"),
        (
            t.url,
            "http://example.com:99999",
            "could not parse url. Port out of range 0-65535",
        ),
        (t.timeout, -1, "value should be between 0 and 2147483646"),
        (t.uuid, "5a2e5e2a-7c1e-4f0a-9a7e-0a4b2f4c1d11", None),
        (t.uuid, "123", "expected a valid UUID"),
        (t.http_method, "get", "invalid value: get"),
        (
            t.protocol,
            "ftp",
            "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp",
        ),
        (t.protocols_http, ["tcp"], ["expected one of: grpc, grpcs, http, https"]),
    ],
)
def test_typedef_messages(field, value, message):
    """Typedefs accept good values and answer Kong's messages otherwise."""
    assert field.validate(value) == message


@pytest.mark.parametrize(
    "value, message",
    [
        ("/foo", None),
        ("~/foo/(?<id>\\d+)$", None),
        ("foo", "should start with: / (fixed path) or ~/ (regex path)"),
        ("/a//b", "must not have empty segments"),
        ("/a/./b", "non-normalized path, consider use '/a/b' instead"),
        ("/%7Efoo", "non-normalized path, consider use '/~foo' instead"),
        ("/a%2fb", "non-normalized path, consider use '/a%2Fb' instead"),
        ("/a%zz", "invalid url-encoded value: '%zz'"),
        (
            "~/(",
            "invalid regex: '/(' (PCRE returned: missing ), unterminated subpattern at position 1)",
        ),
    ],
)
def test_route_paths(value, message):
    """Route paths: prefix (normalized) or ~ regex (compiled)."""
    assert t.route_path.validate(value) == message


def test_route_hosts_wildcards():
    """Route hosts allow one wildcard on the leftmost or rightmost label."""
    assert t.hosts.validate(["*.a.com", "a.*", "a.com:8080"]) is None
    assert t.hosts.validate(["*.*.com"]) == ["invalid wildcard: must have at most one wildcard"]
    assert t.hosts.validate(["a.*.com"]) == [
        "invalid wildcard: must be placed at leftmost or rightmost label"
    ]


def test_route_headers_refuse_host():
    """The host header must be given through hosts."""
    assert t.headers.validate({"Host": ["a"]}) == {
        "Host": "cannot contain 'host' header, which must be specified in the 'hosts' attribute"
    }
    assert t.headers.validate({"x-v": ["1", "2"]}) is None


def test_sources_need_ip_or_port():
    """sources elements are records needing ip or port."""
    assert t.sources.validate([{"ip": "10.0.0.0/8"}, {"port": 80}]) is None
    assert t.sources.validate([{}]) == [
        {"@entity": ["at least one of these fields must be non-empty: 'ip', 'port'"]}
    ]


@pytest.mark.parametrize(
    "tag, ok",
    [
        ("prod", True),
        ("a.b-c_d~e:f", True),
        ("ünï", True),
        ("a,b", False),
        ("a/b", False),
        ("a b", False),
    ],
)
def test_tags(tag, ok):
    """Tags are printable ascii except , and / (or any non-ascii)."""
    err = t.tags.validate([tag])
    if ok:
        assert err is None
    else:
        assert err == [
            "invalid tag '%s': expected printable ascii (except `,` and `/`) "
            "or valid utf-8 sequences" % tag
        ]


def test_certificate_and_key(rsa_pair):
    """PEM certificates and keys are parsed; garbage gets Kong's prefix."""
    cert, key = rsa_pair
    assert t.certificate.validate(cert) is None
    assert t.key.validate(key) is None
    assert t.certificate.validate("junk").startswith("invalid certificate: ")
    assert t.key.validate("junk").startswith("invalid key: ")


def test_parse_host():
    """parse_host splits names, IPv4 and IPv6 with optional ports."""
    assert t.parse_host("Example.COM:81") == ("name", "example.com", 81)
    assert t.parse_host("10.0.0.1") == ("ipv4", "10.0.0.1", None)
    assert t.parse_host("[::1]:8000") == ("ipv6", "::1", 8000)
    assert t.parse_host("::1") == ("ipv6", "::1", None)
    with pytest.raises(ValueError, match="invalid ipv4 address"):
        t.parse_host("300.0.0.1")


def test_pcre_named_groups_translate():
    """PCRE (?<name>...) becomes Python (?P<name>...), lookbehinds stay."""
    assert t.pcre_to_python(r"/(?<id>\d+)(?<=x)(?<!y)") == r"/(?P<id>\d+)(?<=x)(?<!y)"
