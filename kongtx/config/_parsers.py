"""Value parsers for configuration properties.

A parser takes the raw string and returns the value or raises ValueError with
the reason; the loader wraps it into a ConfigError naming setting and value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

_BOOLEANS = {"on": True, "true": True, "off": False, "false": False}
_SIZE_RE = re.compile(r"^(\d+)\s*([kKmMgG]?)$")
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_boolean(raw: str) -> bool:
    try:
        return _BOOLEANS[raw.lower()]
    except KeyError:
        raise ValueError("expected one of on, off, true, false") from None


def parse_integer(minimum: int | None = 0, maximum: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw, 10)
        except ValueError:
            raise ValueError("expected an integer") from None
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be at most {maximum}")
        return value

    return parse


def parse_number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number") from None
    if not 0 <= value < float("inf"):
        raise ValueError("must be a positive number")
    return value


_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$")
_DURATION_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(raw: str) -> float:
    """Parse an nginx time (``60``, ``60s``, ``500ms``, ``1m``) into seconds.

    :raises ValueError: not a duration.
    """
    match = _DURATION_RE.match(raw.strip())
    if match is None:
        raise ValueError("expected a duration such as 60s, 500ms or 1m")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_size(raw: str) -> int:
    """Parse an nginx size (``512``, ``8k``, ``10m``, ``1g``) into bytes.

    :raises ValueError: not a size.
    """
    match = _SIZE_RE.match(raw.strip())
    if match is None:
        raise ValueError("expected a size such as 512, 8k, 10m or 1g")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]


def parse_string(raw: str) -> str:
    return raw


def parse_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_list_off(raw: str) -> list[str]:
    """A comma list where ``off`` alone means empty (``plugins``, ``headers``)."""
    items = parse_list(raw)
    if any(item.lower() == "off" for item in items):
        if len(items) > 1:
            raise ValueError("'off' cannot be combined with other values")
        return []
    return items


def parse_words(raw: str) -> list[str]:
    return raw.split()


def parse_enum(*choices: str) -> Callable[[str], str]:
    lowered = {c.lower(): c for c in choices}

    def parse(raw: str) -> str:
        try:
            return lowered[raw.lower()]
        except KeyError:
            raise ValueError("expected one of " + ", ".join(choices)) from None

    return parse


def parse_members(parse: Callable[[str], list[str]], *allowed: str) -> Callable[[str], list[str]]:
    """A list whose entries must be taken (case-insensitively) from ``allowed``."""
    canonical = {a.lower(): a for a in allowed}

    def check(raw: str) -> list[str]:
        out = []
        for item in parse(raw):
            if item.lower() not in canonical:
                raise ValueError(f"invalid entry {item!r}; expected " + ", ".join(allowed))
            out.append(canonical[item.lower()])
        return out

    return check


def parse_trusted_ips(raw: str) -> list[str]:
    out = []
    for item in parse_list(raw):
        if item != "unix:":
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"invalid entry {item!r}; expected IPv4/IPv6 addresses, CIDR blocks or 'unix:'"
                ) from None
        out.append(item)
    return out


def parse_workers(raw: str) -> int | str:
    if raw.lower() == "auto":
        return "auto"
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError("expected 'auto' or a positive integer")
    return value
