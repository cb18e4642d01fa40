"""Sans-IO CORS decisions (Kong's ``kong/plugins/cors/handler.lua`` rules), compiled once per config."""

from __future__ import annotations

import re
from typing import Any

from kongtx.schema.typedefs import pcre_to_python

__all__ = ["Policy", "normalize_origin", "DEFAULT_METHODS"]

DEFAULT_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT"

_PLAIN = re.compile(r"^[A-Za-z0-9.:/-]+$")
_SCHEME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9+.\-]*):")
_PORT = re.compile(r":([^:\]]*)$")

_ORIGIN_CACHE: dict[str, tuple[str, str]] = {}
_ORIGIN_CACHE_SIZE = 10000


def normalize_origin(value: str) -> tuple[str, str]:
    """``(domain, host)`` of an origin: ``scheme://host[:port]`` with default ports dropped.

    A value without an authority part (``null``, ``example.com``) is its own
    domain and host, as in Kong.
    """
    cached = _ORIGIN_CACHE.get(value)
    if cached is not None:
        return cached
    result = _normalize(value)
    if len(_ORIGIN_CACHE) >= _ORIGIN_CACHE_SIZE:
        _ORIGIN_CACHE.clear()
    _ORIGIN_CACHE[value] = result
    return result


def _normalize(value: str) -> tuple[str, str]:
    rest = value.split("#", 1)[0].split("?", 1)[0]
    scheme = None
    match = _SCHEME.match(rest)
    if match:
        scheme = match.group(1).lower()
        rest = rest[match.end() :]
    if not rest.startswith("//"):
        return value, value
    authority = rest[2:].split("/", 1)[0].rpartition("@")[2]
    port = None
    port_match = _PORT.search(authority)
    if port_match:
        port = port_match.group(1)
        authority = authority[: port_match.start()]
    if not authority:
        return value, value
    host = authority
    if (scheme == "http" and port == "80") or (scheme == "https" and port == "443"):
        port = None
    domain = (f"{scheme}://" if scheme else "") + host + (f":{port}" if port is not None else "")
    return domain, host


class _Entry:
    __slots__ = ("regex", "domain", "by_host")

    def __init__(self, origin: str) -> None:
        self.by_host = ":" not in origin
        if _PLAIN.match(origin):
            self.regex = None
            self.domain: str | None = normalize_origin(origin)[0]
        else:
            # Kong anchors both ends (a leading ^ given by the user is redundant).
            pattern = origin if origin.endswith("$") else origin + "$"
            if pattern.startswith("^"):
                pattern = pattern[1:]
            self.regex = re.compile(pcre_to_python(pattern))
            self.domain = None

    def matches(self, domain: str, host: str) -> bool:
        if self.regex is not None:
            return self.regex.match(host if self.by_host else domain) is not None
        return domain == self.domain


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Policy:
    """One ``cors`` config, compiled: origin matchers and the joined header values."""

    __slots__ = (
        "wildcard",
        "single",
        "has_star",
        "entries",
        "credentials",
        "expose",
        "allow_headers",
        "methods",
        "max_age",
        "private_network",
        "preflight_continue",
        "allow_origin_absent",
    )

    def __init__(self, conf: dict[str, Any]) -> None:
        origins: list[str] = list(conf.get("origins") or ())
        self.wildcard = not origins or origins == ["*"]
        self.single = origins[0] if len(origins) == 1 and _PLAIN.match(origins[0]) else None
        self.has_star = "*" in origins
        self.entries = (
            [] if self.wildcard or self.single else [_Entry(o) for o in origins if o != "*"]
        )
        self.credentials = bool(conf.get("credentials"))
        exposed = conf.get("exposed_headers")
        self.expose = ",".join(exposed) if exposed else None
        headers = conf.get("headers")
        self.allow_headers = ",".join(headers) if headers else None
        methods = conf.get("methods")
        self.methods = ",".join(methods) if methods is not None else DEFAULT_METHODS
        max_age = conf.get("max_age")
        self.max_age = _number(max_age) if max_age is not None else None
        self.private_network = bool(conf.get("private_network"))
        self.preflight_continue = bool(conf.get("preflight_continue"))
        allow_absent = conf.get("allow_origin_absent")
        self.allow_origin_absent = True if allow_absent is None else bool(allow_absent)

    def origin(self, req_origin: str | None) -> tuple[bool, str | None, bool]:
        """``(allow_all, Access-Control-Allow-Origin value or None to remove it, add Vary: Origin)``."""
        if self.wildcard:
            return True, "*", False
        if self.single is not None:
            return False, self.single, True
        if req_origin is not None:
            if self.has_star:
                return True, "*", True
            domain, host = normalize_origin(req_origin)
            for entry in self.entries:
                if entry.matches(domain, host):
                    return False, domain, True
        return False, None, True

    def response_headers(self, req_origin: str | None) -> tuple[str | None, bool, bool]:
        """Headers of a non-preflight response: ``(ACAO or None, Vary: Origin, ACAC: true)``."""
        allow_all, acao, vary = self.origin(req_origin)
        credentials = False
        if self.credentials:
            if not allow_all:
                credentials = True
            elif req_origin is not None:
                # ACAC cannot be true with ACAO '*': echo the origin instead.
                acao, vary, credentials = req_origin, True, True
        return acao, vary, credentials

    def preflight_headers(
        self, req_origin: str | None, request_headers: Any
    ) -> list[tuple[str, str]]:
        """The headers of the ``200`` answer to a preflight."""
        acao, vary, credentials = self.response_headers(req_origin)
        out: list[tuple[str, str]] = []
        if acao is not None:
            out.append(("Access-Control-Allow-Origin", acao))
        if vary:
            out.append(("Vary", "Origin"))
        if credentials:
            out.append(("Access-Control-Allow-Credentials", "true"))
        if self.allow_headers is not None:
            out.append(("Access-Control-Allow-Headers", self.allow_headers))
        else:
            requested = request_headers.get("access-control-request-headers")
            if requested is not None:
                out.append(("Access-Control-Allow-Headers", requested))
        out.append(("Access-Control-Allow-Methods", self.methods))
        if self.max_age is not None:
            out.append(("Access-Control-Max-Age", self.max_age))
        if (
            self.private_network
            and request_headers.get("access-control-request-private-network") == "true"
        ):
            out.append(("Access-Control-Allow-Private-Network", "true"))
        return out
