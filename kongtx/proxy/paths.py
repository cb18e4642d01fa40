"""Request path normalization and upstream path building (Kong 3.x, sans-IO).

``normalize_path`` is what the router matches against (proxy.md §1.1);
``upstream_path`` turns a router ``Match`` into the path sent upstream
(proxy.md §2.1), already re-escaped. The query string is the caller's business.

Paths are ``str`` holding latin-1 decoded bytes (like ``Headers`` values), so a
``%XX`` escape decodes to ``chr(0xXX)`` and re-escaping gives the same bytes back.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kongtx.router import Match

__all__ = [
    "climbs_above_root",
    "escape_path",
    "normalize_path",
    "sanitize_postfix",
    "upstream_path",
]

# Kong keeps these percent-encoded when normalizing (kong/tools/uri.lua).
_RESERVED = frozenset("!*'();:@&=+$,/?%#[]")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_SLASHES = re.compile(r"//+")
# Characters Kong leaves alone when escaping the upstream path.
_UNSAFE = re.compile(r"[^!#$&'()*+,/:;=?@\[\]A-Za-z0-9\-_.~%]")


def _decode(m: re.Match[str]) -> str:
    char = chr(int(m.group(1), 16))
    if char in _RESERVED:
        return m.group(0).upper()
    return char


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 on an absolute path, merging empty segments (``//``)."""
    out: list[str] = []
    segments = path.split("/")
    for seg in segments[1:]:
        if seg == "..":
            if out:
                out.pop()
        elif seg and seg != ".":
            out.append(seg)
    if not out:
        return "/"
    last = segments[-1]
    trailing = "/" if last in ("", ".", "..") else ""
    return "/" + "/".join(out) + trailing


def climbs_above_root(raw: str) -> bool:
    """Whether the path's ``..`` segments (``%2e%2e`` too) climb above ``/``: nginx answers
    such a request 400 instead of resolving it to the root (``/../../etc/passwd``)."""
    if "." not in raw and "%" not in raw:
        return False
    if "%" in raw:
        raw = _PCT.sub(_decode, raw)
    depth = 0
    for segment in raw.split("/")[1:]:
        if segment == "..":
            if not depth:
                return True
            depth -= 1
        elif segment and segment != ".":
            depth += 1
    return False


def normalize_path(raw: str) -> str:
    """Normalize a request path (no query) the way Kong's router sees it.

    Decodes every ``%XX`` except reserved characters (kept, hex upper-cased),
    resolves ``.``/``..`` segments and merges repeated slashes.

    :param raw: the path part of the request-target.
    :returns: the normalized path.
    """
    if raw == "/" or raw == "":
        return raw
    if "%" in raw:
        raw = _PCT.sub(_decode, raw)
    if raw[0] != "/":
        # Not origin-form (e.g. "*"): nothing sensible to resolve against.
        return _SLASHES.sub("/", raw)
    if "." not in raw:
        return _SLASHES.sub("/", raw) if "//" in raw else raw
    return _remove_dot_segments(raw)


def _escape_char(m: re.Match[str]) -> str:
    char = m.group(0)
    code = ord(char)
    if code < 256:
        return f"%{code:02X}"
    return "".join(f"%{b:02X}" for b in char.encode("utf-8"))


def escape_path(path: str) -> str:
    """Percent-encode characters Kong does not send raw in the upstream path.

    :param path: a decoded path.
    :returns: ``path`` with every character outside
        ``!#$&'()*+,/:;=?@[]A-Za-z0-9-_.~%`` percent-encoded.
    """
    if _UNSAFE.search(path) is None:
        return path
    return _UNSAFE.sub(_escape_char, path)


def sanitize_postfix(postfix: str) -> str:
    """Drop a leading ``./`` or ``../`` (or a lone ``.``/``..``) from a postfix."""
    if not postfix or postfix[0] != ".":
        return postfix
    if postfix == "." or postfix == "..":
        return ""
    if postfix.startswith("./"):
        return postfix[2:]
    if postfix.startswith("../"):
        return postfix[3:]
    return postfix


def _v0(base: str, postfix: str, request: str, strip_path: bool) -> str:
    if base[-1] == "/":
        if strip_path:
            if not postfix:
                if base == "/":
                    return "/"
                if request[-1:] == "/":
                    return base
                return base[:-1]
            if postfix[0] == "/":
                return base[:-1] + postfix
            return base + postfix
        return base + request[1:]
    if strip_path:
        if not postfix:
            if len(request) > 1 and request[-1] == "/":
                return base + "/"
            return base
        if postfix[0] == "/":
            return base + postfix
        return base + "/" + postfix
    if request == "/":
        return base
    return base + request


def _v1(base: str, postfix: str, request: str, strip_path: bool) -> str:
    tail = postfix if strip_path else request[1:]
    if base[-1] == "/" and tail[:1] == "/":
        return base + tail[1:]
    return base + tail


def upstream_path(
    service_path: str | None, match: Match, strip_path: bool, path_handling: str = "v0"
) -> str:
    """Build the escaped upstream path for a routed request (proxy.md §2.1).

    :param service_path: the service's ``path`` (``None`` means ``/``).
    :param match: the router's match; uses ``path`` (the normalized request
        path) and ``postfix`` (the part after the matched prefix).
    :param strip_path: the route's ``strip_path``.
    :param path_handling: ``"v0"`` (default) or ``"v1"``.
    :returns: the path to send upstream, without query string.
    """
    base = service_path or "/"
    if path_handling == "v1":
        result = _v1(base, match.postfix, match.path, strip_path)
    else:
        result = _v0(base, match.postfix, match.path, strip_path)
    return escape_path(result)
