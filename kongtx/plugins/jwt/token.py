"""JSON Web Tokens as Kong's jwt plugin reads them (``jwt_parser.lua``), sans-IO.

:func:`find_tokens` collects the distinct tokens of a request, :func:`parse`
decodes one (Kong's ``Bad token; ...`` reasons), :func:`verify_signature`
checks it with PyJWT's algorithm implementations (on cryptography), and
:func:`claim_errors` / :func:`expiration_errors` check ``exp`` and ``nbf``.
"""

from __future__ import annotations

import binascii
import json
import re
from base64 import b64decode
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jwt.algorithms import get_default_algorithms
from jwt.exceptions import InvalidKeyError

from kongtx.plugins.jwt.daos import ALGORITHMS

__all__ = [
    "BadToken",
    "Token",
    "b64url_decode",
    "claim_errors",
    "cookie_value",
    "expiration_errors",
    "find_tokens",
    "parse",
    "verify_signature",
]

_BEARER = re.compile(r"\s*[Bb]earer\s+(.+)")
_ALGORITHMS = get_default_algorithms()
#: Algorithms Kong verifies (``none`` is not one of them).
SUPPORTED = frozenset(a for a in ALGORITHMS if a in _ALGORITHMS)


class BadToken(Exception):
    """A token that cannot be decoded; ``str(exc)`` is Kong's reason (``invalid JSON``...)."""


@dataclass(frozen=True)
class Token:
    """A decoded token: its JSON header and claims, what was signed and the signature."""

    raw: str
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        return str(self.header["alg"])


def cookie_value(cookie_header: str | None, name: str) -> str | None:
    """The first cookie called ``name`` (nginx's ``$cookie_<name>``)."""
    if not cookie_header:
        return None
    for item in cookie_header.split(";"):
        key, eq, value = item.strip().partition("=")
        if eq and key.strip() == name:
            return value.strip()
    return None


def find_tokens(
    query: Iterable[tuple[str, str]],
    cookie_header: str | None,
    headers: Any,
    uri_param_names: Iterable[str],
    cookie_names: Iterable[str],
    header_names: Iterable[str],
) -> list[str]:
    """Every distinct non-empty token: query arguments, cookies, then ``Bearer`` headers."""
    found: dict[str, None] = {}
    pairs = list(query)
    for name in uri_param_names:
        for key, value in pairs:
            if key == name and value:
                found[value] = None
    for name in cookie_names:
        cookie = cookie_value(cookie_header, name)
        if cookie:
            found[cookie] = None
    for name in header_names:
        values = headers.get_all(name)
        if not values:
            continue
        m = _BEARER.search(values[0])
        if m is not None and m.group(1):
            found[m.group(1)] = None
    return list(found)


def b64url_decode(text: str) -> bytes | None:
    """Kong's lenient base64url decoding (padding added), None when not base64."""
    data = text.replace("-", "+").replace("_", "/")
    data += "=" * (-len(data) % 4)
    try:
        return b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def _json(segment: str) -> Any:
    decoded = b64url_decode(segment)
    if decoded is None:
        raise BadToken("invalid JSON")
    try:
        return json.loads(decoded)
    except (ValueError, UnicodeDecodeError):
        raise BadToken("invalid JSON") from None


def parse(raw: str) -> Token:
    """Decode ``raw`` (``header.claims.signature``).

    :raises BadToken: ``invalid JSON``, ``invalid alg``, ``invalid claims`` or
        ``invalid signature``, as Kong.
    """
    parts = raw.split(".", 2)
    if len(parts) != 3:
        raise BadToken("invalid JSON")
    header_64, claims_64, signature_64 = parts
    header = _json(header_64)
    claims = _json(claims_64)
    signature = b64url_decode(signature_64)
    if signature is None:
        raise BadToken("invalid JSON")
    if not isinstance(header, dict):
        raise BadToken("invalid JSON")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in SUPPORTED:
        raise BadToken("invalid alg")
    if not isinstance(claims, dict):
        raise BadToken("invalid claims")
    signing_input = f"{header_64}.{claims_64}".encode("latin-1", errors="replace")
    return Token(raw, header, claims, signing_input, signature)


class _PreparedKeys:
    """A bounded memo of PyJWT-prepared keys (parsing a PEM key per request is slow)."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, bytes], Any] = OrderedDict()

    def get(self, alg: str, material: bytes) -> Any:
        key = (alg, material)
        entries = self._entries
        prepared = entries.get(key)
        if prepared is not None:
            entries.move_to_end(key)
            return prepared
        prepared = _ALGORITHMS[alg].prepare_key(material)
        entries[key] = prepared
        while len(entries) > self.size:
            entries.popitem(last=False)
        return prepared


_KEYS = _PreparedKeys()


def verify_signature(token: Token, material: bytes) -> bool:
    """Whether ``token``'s signature is valid for ``material`` (HMAC secret or PEM key)."""
    try:
        prepared = _KEYS.get(token.alg, material)
        return bool(_ALGORITHMS[token.alg].verify(token.signing_input, prepared, token.signature))
    except (InvalidKeyError, ValueError, TypeError):
        return False


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def claim_errors(claims: dict[str, Any], to_verify: Iterable[str], now: int) -> dict[str, str]:
    """Kong's ``verify_registered_claims``: ``{claim: message}`` for ``exp``/``nbf`` (empty when fine)."""
    errors: dict[str, str] = {}
    for name in to_verify:
        value: Any = claims.get(name)
        if not _is_number(value):
            errors[name] = "must be a number"
        elif name == "exp" and value <= now:
            errors[name] = "token expired"
        elif name == "nbf" and value > now:
            errors[name] = "token not valid yet"
    return errors


def expiration_errors(claims: dict[str, Any], maximum: float, now: int) -> dict[str, str]:
    """Kong's ``check_maximum_expiration`` (``maximum`` > 0)."""
    exp: Any = claims.get("exp")
    if not _is_number(exp) or exp - now > maximum:
        return {"exp": "exceeds maximum allowed expiration"}
    return {}
