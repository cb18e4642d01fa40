"""HMAC request signatures as Kong's hmac-auth checks them, sans-IO.

:func:`parse_authorization` reads ``hmac username="…", algorithm="…",
headers="…", signature="…"``; :func:`signing_string` rebuilds what the
client signed; :func:`sign` computes the HMAC; :func:`within_skew` checks a
``Date``/``X-Date`` value; :func:`digest_matches` checks ``Digest: SHA-256=…``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from email.utils import mktime_tz, parsedate_tz
from typing import Any

__all__ = [
    "DIGESTS",
    "HmacParams",
    "digest_matches",
    "parse_authorization",
    "sign",
    "signature_matches",
    "signing_string",
    "within_skew",
]

DIGESTS = {
    "hmac-sha1": hashlib.sha1,
    "hmac-sha256": hashlib.sha256,
    "hmac-sha384": hashlib.sha384,
    "hmac-sha512": hashlib.sha512,
}

_AUTHORIZATION = re.compile(
    r'\s*[Hh]mac\s*username="(.+)",\s*algorithm="(.+)",\s*headers="(.+)",\s*signature="(.+)"'
)


@dataclass(frozen=True)
class HmacParams:
    """The fields of an ``hmac`` authorization header."""

    username: str
    algorithm: str
    headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str | None) -> HmacParams | None:
    """The header's fields (Kong's greedy pattern), or None when it is not an ``hmac`` header."""
    if not value:
        return None
    m = _AUTHORIZATION.search(value)
    if m is None:
        return None
    username, algorithm, names, signature = m.groups()
    return HmacParams(username, algorithm, tuple(n for n in names.split(" ") if n), signature)


def signing_string(
    names: tuple[str, ...], headers: Any, method: str, target: str, version: str
) -> str:
    """Kong's signing string: ``name: value`` per listed header, joined by ``\\n``.

    ``request-line`` is ``METHOD target HTTP/x.y`` and ``@request-target``
    ``@request-target: method target`` unless a header of that name exists;
    a listed header that is absent contributes ``name:``.
    """
    lines = []
    for name in names:
        values = headers.get_all(name)
        if values:
            lines.append(f"{name}: {values[0]}")
        elif name == "request-line":
            lines.append(f"{method} {target} HTTP/{float(version):.1f}")
        elif name == "@request-target":
            lines.append(f"{name}: {method.lower()} {target}")
        else:
            lines.append(f"{name}:")
    return "\n".join(lines)


def sign(algorithm: str, secret: bytes, text: str) -> bytes:
    """The raw HMAC of ``text`` (latin-1, as received) under ``secret``."""
    return hmac.new(secret, text.encode("latin-1", errors="replace"), DIGESTS[algorithm]).digest()


def signature_matches(expected: bytes, given_b64: str) -> bool:
    """Constant-time comparison of the computed signature with the base64 one given."""
    try:
        given = base64.b64decode(given_b64.encode("latin-1"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return False
    return hmac.compare_digest(expected, given)


def within_skew(date_value: str | None, now: float, clock_skew: float) -> bool:
    """Whether an HTTP date is within ``clock_skew`` seconds of ``now``."""
    if not date_value:
        return False
    parsed = parsedate_tz(date_value)
    if parsed is None:
        return False
    try:
        when = mktime_tz(parsed)
    except (OverflowError, ValueError):
        return False
    return abs(int(now) - when) <= clock_skew


def digest_matches(digest_header: str | None, body: bytes) -> bool:
    """``Digest: SHA-256=<base64>`` of ``body``; without the header only an empty body passes."""
    if digest_header is None:
        return body == b""
    expected = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
    return hmac.compare_digest(
        expected.encode("latin-1"), digest_header.encode("latin-1", errors="replace")
    )
