"""What proxy-cache may cache and for how long (sans-IO, Kong's rules).

Cache-Control directives are parsed as Kong does: ``name[=value]`` items,
names lower-cased, numeric values as numbers, valueless ones as ``True``.
"""

from __future__ import annotations

import calendar
from email.utils import parsedate_tz
from typing import Any

__all__ = [
    "cacheable_request",
    "cacheable_response",
    "content_type_allowed",
    "parse_directives",
    "resource_ttl",
]


def parse_directives(values: list[str]) -> dict[str, Any]:
    """Cache-Control header values -> ``{directive: number | text | True}``."""
    out: dict[str, Any] = {}
    for item in ", ".join(values).split(","):
        name, eq, value = item.strip().partition("=")
        if not name:
            continue
        value = value.strip().strip('"')
        parsed: Any = True
        if eq:
            try:
                parsed = float(value) if "." in value else int(value)
            except ValueError:
                parsed = value
        out[name.strip().lower()] = parsed
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def resource_ttl(directives: dict[str, Any], expires: str | None, now: float) -> float:
    """Seconds a response may be cached: ``s-maxage``, ``max-age``, else ``Expires``; >= 0."""
    max_age = _number(directives.get("s-maxage"))
    if max_age is None:
        max_age = _number(directives.get("max-age"))
    if max_age is None and expires:
        parsed = parsedate_tz(expires)
        if parsed is not None:
            max_age = calendar.timegm(parsed[:9]) - (parsed[9] or 0) - int(now)
    return max(max_age, 0.0) if max_age is not None else 0.0


def cacheable_request(
    method: str,
    methods: frozenset[str],
    cache_control: bool,
    directives: dict[str, Any],
    has_authorization: bool,
) -> bool:
    """Kong: the method is configured; with ``cache_control``, no ``no-store``/``no-cache``
    and no ``Authorization`` header."""
    if method not in methods:
        return False
    return not (
        cache_control
        and (directives.get("no-store") or directives.get("no-cache") or has_authorization)
    )


def _media(value: str) -> tuple[str, str, dict[str, str]] | None:
    kind, _, rest = value.partition(";")
    main, slash, sub = kind.strip().lower().partition("/")
    if not slash or not main or not sub:
        return None
    params = {}
    for item in rest.split(";"):
        name, eq, val = item.partition("=")
        if eq:
            params[name.strip().lower()] = val.strip().strip('"').lower()
    return main, sub, params


def content_type_allowed(allowed: list[str], content_type: str | None) -> bool:
    """Kong 3.x: type and subtype match (``*`` matches any), and every parameter the
    configured type names has the same value in the response's."""
    if not content_type:
        return False
    got = _media(content_type)
    if got is None:
        return False
    for entry in allowed:
        if entry.strip() == "*/*" or entry.strip() == "*":
            return True
        want = _media(entry)
        if want is None:
            continue
        if want[0] not in ("*", got[0]) or want[1] not in ("*", got[1]):
            continue
        if all(got[2].get(k) == v for k, v in want[2].items()):
            return True
    return False


def cacheable_response(
    status: int,
    codes: frozenset[int],
    content_type: str | None,
    allowed_types: list[str],
    cache_control: bool,
    directives: dict[str, Any],
    ttl: float,
) -> bool:
    """Kong: a configured status and content type; with ``cache_control``, not
    ``private``/``no-store``/``no-cache`` and a positive TTL."""
    if status not in codes or not content_type_allowed(allowed_types, content_type):
        return False
    if cache_control:
        if directives.get("private") or directives.get("no-store") or directives.get("no-cache"):
            return False
        if ttl <= 0:
            return False
    return True
