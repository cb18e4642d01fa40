"""Format versions: "1.1" and "2.1" files are upgraded to "3.0" on load.

As Kong's ``migrate_path_280_300``: a route path using characters outside
``[A-Za-z0-9._~/%-]`` was a regex and gets the ``~`` prefix (percent escapes
of unreserved characters decoded, regex metacharacters escaped); any other
path is normalized.
"""

from __future__ import annotations

import re
from typing import Any

from kongtx.schema.typedefs import normalize_route_path

__all__ = ["FORMAT_VERSIONS", "migrate_document", "migrate_path"]

FORMAT_VERSIONS = ("1.1", "2.1", "3.0")

_PLAIN = re.compile(r"^[A-Za-z0-9._~/%-]*$")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_RESERVED = frozenset("!#$%&'()*+,/:;=?@[]")
_REGEX_META = frozenset(".^-{}\\|")


def _regex_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    if char in _RESERVED:
        return match.group(0).upper()
    if char in _REGEX_META:
        return "\\" + char
    return char


def migrate_path(path: str) -> str:
    """One pre-3.0 route path as 3.0 writes it."""
    if _PLAIN.match(path):
        return normalize_route_path(path)
    return "~" + _PCT.sub(_regex_escape, path)


def _migrate_routes(routes: Any) -> None:
    if not isinstance(routes, list):
        return
    for route in routes:
        paths = route.get("paths") if isinstance(route, dict) else None
        if isinstance(paths, list):
            route["paths"] = [migrate_path(p) if isinstance(p, str) else p for p in paths]


def migrate_document(document: dict[str, Any]) -> None:
    """Upgrade a 1.1/2.1 ``document`` in place (top-level and service-nested routes)."""
    if document.get("_format_version") not in ("1.1", "2.1"):
        return
    _migrate_routes(document.get("routes"))
    services = document.get("services")
    if isinstance(services, list):
        for service in services:
            if isinstance(service, dict):
                _migrate_routes(service.get("routes"))
