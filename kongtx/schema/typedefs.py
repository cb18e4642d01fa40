"""Kong's typedefs (``kong/db/schema/typedefs.lua``) with Kong's messages.

Each typedef is a :class:`~kongtx.schema.fields.Field`; calling it derives a
copy with attributes changed, as in Kong: ``typedefs.port(default=80)``.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from kongtx.schema import checks
from kongtx.schema.fields import (
    Array,
    Boolean,
    Foreign,
    Integer,
    Map,
    Number,
    Record,
    Set,
    String,
)

PROTOCOLS = ("grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp")
HTTP_PROTOCOLS = ("grpc", "grpcs", "http", "https")
STREAM_PROTOCOLS = ("tcp", "tls", "tls_passthrough", "udp")

_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
_PORT_RE = re.compile(r"^\d+$")


# -- host parsing (Kong's utils.normalize_ip) ---------------------------------


def parse_host(value: str) -> tuple[str, str, int | None]:
    """Split ``host[:port]`` into ``(kind, host, port)``; kind is ipv4/ipv6/name.

    :raises ValueError: with Kong's message (``invalid hostname: x``,
        ``invalid port number``, ...).
    """
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ValueError("invalid ipv6 address: " + value)
        host, rest = value[1:end], value[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("invalid ipv6 address: " + value) from None
        if rest == "":
            return "ipv6", host, None
        if not rest.startswith(":"):
            raise ValueError("invalid ipv6 address: " + value)
        return "ipv6", host, _port(rest[1:])
    if value.count(":") > 1:
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            raise ValueError("invalid ipv6 address: " + value) from None
        return "ipv6", value, None
    host, sep, port_text = value.partition(":")
    port = _port(port_text) if sep else None
    if re.match(r"^[\d.]+$", host) and host.count(".") == 3:
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError("invalid ipv4 address: " + value) from None
        return "ipv4", host, port
    if not _NAME_RE.match(host):
        raise ValueError("invalid hostname: " + value)
    return "name", host.lower(), port


def _port(text: str) -> int:
    if not _PORT_RE.match(text) or int(text) > 65535:
        raise ValueError("invalid port number")
    return int(text)


def _portless_host(value: str) -> tuple[str | None, str | None]:
    """``(kind, message)``: ``kind`` as :func:`parse_host` says (None when ``value`` does
    not parse); ``message`` why ``value`` is not a host without a port (None when it is)."""
    try:
        kind, _, port = parse_host(value)
    except ValueError as exc:
        if str(exc) == "invalid port number":
            return None, "must not have a port"
        return None, "invalid value: " + value
    return kind, ("must not have a port" if port is not None else None)


def _validate_host(value: str) -> str | None:
    return _portless_host(value)[1]


def _validate_host_with_optional_port(value: str) -> str | None:
    try:
        parse_host(value)
    except ValueError as exc:
        return str(exc)
    return None


def _validate_sni_like(value: str) -> str | None:
    kind, error = _portless_host(value)
    if kind is not None and kind != "name":
        return "must not be an IP"
    return error


def _validate_wildcard_host(value: str) -> str | None:
    idx = value.find("*")
    if idx >= 0:
        if idx != 0 and idx != len(value) - 1:
            return "wildcard must be leftmost or rightmost character"
        if value.count("*") > 1:
            return "only one wildcard must be specified"
        value = value.replace("*", "wildcard")
    return _validate_sni_like(value)


def _validate_ip(value: str) -> str | None:
    try:
        kind, _, _ = parse_host(value)
    except ValueError as exc:
        return str(exc)
    return "not an ip address: " + value if kind == "name" else None


def _validate_ip_or_cidr(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return "invalid ip or cidr range: '%s'" % value
    return None


def _validate_cidr(value: str) -> str | None:
    try:
        ipaddress.IPv4Network(value, strict=False)
    except ValueError as exc:
        return "invalid cidr range: %s" % exc
    return None


# -- paths --------------------------------------------------------------------

_PATH_CHARS_RE = re.compile(r"^/[A-Za-z0-9._~/%-]*$")
_PCT_RE = re.compile(r"%[0-9A-Fa-f]{2}")
_BAD_PCT_RE = re.compile(r"%.?.?", re.DOTALL)
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _path_error(path: str) -> tuple[str | None, str | None]:
    """Kong's ``validate_path``: ``(message, code)`` with code rfc3986/percent."""
    raw = _PCT_RE.sub("___", path)
    if "%" in raw:
        bad = _BAD_PCT_RE.search(raw)
        return "invalid url-encoded value: '%s'" % (bad.group(0) if bad else "%"), "percent"
    if not _PATH_CHARS_RE.match(path):
        return (
            "invalid path: '%s' (characters outside of the reserved list of RFC 3986 found)" % path,
            "rfc3986",
        )
    return None, None


def _validate_path(value: str) -> str | None:
    return _path_error(value)[0]


def normalize_route_path(path: str) -> str:
    """RFC 3986 normalization as Kong checks prefix paths.

    Percent-encoded unreserved characters are decoded, other escapes
    upper-cased, and ``.``/``..`` segments removed.
    """

    def _pct(match: re.Match[str]) -> str:
        char = chr(int(match.group(0)[1:], 16))
        return char if char in _UNRESERVED else match.group(0).upper()

    decoded = _PCT_RE.sub(_pct, path)
    out: list[str] = []
    segments = decoded.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
            continue
        if seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
            continue
        out.append(seg)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


_PCRE_NAMED = re.compile(r"\(\?<(?=[A-Za-z_])")


def pcre_to_python(regex: str) -> str:
    """Translate PCRE-only syntax used by routes (``(?<name>...)``) to Python's."""
    return _PCRE_NAMED.sub("(?P<", regex)


def _validate_route_path(value: str) -> str | None:
    err, code = _path_error(value)
    if code == "percent":
        return err
    if not value.startswith("~"):
        normalized = normalize_route_path(value)
        if normalized != value:
            return "non-normalized path, consider use '%s' instead" % normalized
        return None
    regex = value[1:]
    try:
        re.compile(pcre_to_python(regex))
    except re.error as exc:
        return "invalid regex: '%s' (PCRE returned: %s)" % (regex, exc)
    return None


# -- names, headers, urls, tags ------------------------------------------------

_UTF8_NAME_ASCII = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_~")


def _validate_utf8_name(value: str) -> str | None:
    for char in value:
        if ord(char) < 0x80 and char not in _UTF8_NAME_ASCII:
            return (
                "invalid value '%s': the only accepted ascii characters are "
                "alphanumerics or ., -, _, and ~" % value
            )
    return None


_HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def validate_header_name(value: str) -> str | None:
    """Kong's ``utils.validate_header_name`` message."""
    if _HEADER_NAME_RE.match(value):
        return None
    return "bad header name '%s', allowed characters are A-Z, a-z, 0-9, '_', and '-'" % value


def _validate_url(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        return "could not parse url. %s" % exc
    if not parts.hostname:
        return "missing host in url"
    if not parts.scheme:
        return "missing scheme in url"
    return None


_BAD_TAG_CHAR = re.compile(r"[\x00-\x20\x7f,/]")


def _validate_tag(value: str) -> str | None:
    if _BAD_TAG_CHAR.search(value) is not None:
        return (
            "invalid tag '%s': expected printable ascii (except `,` and `/`) "
            "or valid utf-8 sequences" % value
        )
    return None


# -- PEM ------------------------------------------------------------------------


def _validate_certificate(value: str) -> str | None:
    from cryptography import x509

    try:
        x509.load_pem_x509_certificate(value.encode())
    except (ValueError, TypeError) as exc:
        return "invalid certificate: %s" % exc
    return None


def _validate_key(value: str) -> str | None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        load_pem_private_key(value.encode(), password=None)
    except (ValueError, TypeError) as exc:
        return "invalid key: %s" % exc
    return None


# -- the typedefs -------------------------------------------------------------

http_method = String(match=r"^[A-Z]+$")
protocol = String(one_of=PROTOCOLS)
host = String(validators=[_validate_host])
host_with_optional_port = String(validators=[_validate_host_with_optional_port])
wildcard_host = String(validators=[_validate_wildcard_host])
sni = String(validators=[_validate_sni_like])
ip = String(validators=[_validate_ip])
ip_or_cidr = String(validators=[_validate_ip_or_cidr])
cidr = String(validators=[_validate_cidr])
cidr_v4 = cidr
port = Integer(between=(0, 65535))
path = String(
    starts_with="/",
    match_none=[("//", "must not have empty segments")],
    validators=[_validate_path],
)
route_path = String(
    match_any=((r"^/", r"^~/"), "should start with: / (fixed path) or ~/ (regex path)"),
    match_none=[("//", "must not have empty segments")],
    validators=[_validate_route_path],
)
url = String(validators=[_validate_url])
header_name = String(validators=[validate_header_name])
timeout = Integer(between=(0, 2**31 - 2))
uuid = String(uuid=True, auto=True)
auto_timestamp_s = Integer(timestamp=True, auto=True)
auto_timestamp_ms = Number(timestamp=True, auto=True)
name = String(unique=True, validators=[_validate_utf8_name])
utf8_name = name
certificate = String(validators=[_validate_certificate])
key = String(validators=[_validate_key])
tag = String(required=True, validators=[_validate_tag])
tags = Set(tag)
protocols = Set(protocol, required=True, default=list(HTTP_PROTOCOLS))
protocols_http = Set(String(one_of=HTTP_PROTOCOLS), required=True, default=list(HTTP_PROTOCOLS))
no_route = Foreign("routes", eq=None)
no_service = Foreign("services", eq=None)
no_consumer = Foreign("consumers", eq=None)

methods = Set(http_method)
hosts = Array(
    String(
        match_all=[(r"^[^*]*\*?[^*]*$", "invalid wildcard: must have at most one wildcard")],
        match_any=(
            (r"^\*\.", r"\.\*$", r"^[^*]*$"),
            "invalid wildcard: must be placed at leftmost or rightmost label",
        ),
        validators=[lambda v: _validate_host_with_optional_port(v.replace("*", "abc"))],
    )
)
paths = Array(route_path)
headers = Map(
    keys=header_name(
        match_none=[
            (
                r"^[Hh][Oo][Ss][Tt]$",
                "cannot contain 'host' header, which must be specified in the 'hosts' attribute",
            )
        ]
    ),
    values=Array(String()),
)
_ip_port = Record(
    {"ip": ip_or_cidr, "port": port},
    entity_checks=[checks.AtLeastOneOf(["ip", "port"])],
)
sources = Set(_ip_port)
destinations = Set(_ip_port)


__all__ = [
    "HTTP_PROTOCOLS",
    "PROTOCOLS",
    "STREAM_PROTOCOLS",
    "auto_timestamp_ms",
    "auto_timestamp_s",
    "certificate",
    "cidr",
    "cidr_v4",
    "destinations",
    "header_name",
    "headers",
    "host",
    "host_with_optional_port",
    "hosts",
    "http_method",
    "ip",
    "ip_or_cidr",
    "key",
    "methods",
    "name",
    "no_consumer",
    "no_route",
    "no_service",
    "normalize_route_path",
    "parse_host",
    "path",
    "paths",
    "pcre_to_python",
    "port",
    "protocol",
    "protocols",
    "protocols_http",
    "route_path",
    "sni",
    "sources",
    "tag",
    "tags",
    "timeout",
    "url",
    "utf8_name",
    "uuid",
    "validate_header_name",
    "wildcard_host",
]

# -- what the authentication plugins share --------------------------------------

#: ``anonymous``: the consumer an auth plugin falls back to.
anonymous = String(
    description="Consumer id or username used when authentication fails; "
    "unset means the request is refused with 401."
)
#: ``run_on_preflight``.
run_on_preflight = Boolean(
    required=True, default=True, description="Also authenticate OPTIONS preflight requests."
)
#: ``hide_credentials``: the plugins that read a credential from the request.
hide_credentials = Boolean(
    required=True, default=False, description="Remove the Authorization header before proxying."
)
#: ``realm``: the realm of the ``WWW-Authenticate`` challenge.
realm = String(description="Realm of the WWW-Authenticate challenge sent with a 401.")

# -- what the plugins' credential entities share ---------------------------------

#: ``consumer`` of a credential (or ACL group) row: required, deleted with its consumer.
credential_consumer = Foreign("consumers", required=True, on_delete="cascade")
