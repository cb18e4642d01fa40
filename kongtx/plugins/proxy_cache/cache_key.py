"""Kong's proxy-cache key (sans-IO): sha256 hex of
``<prefix>|<method>|<path>|<query part>|<headers part>``.

The prefix is ``<consumer id>:<route id>`` (either alone when the other is
missing, ``default`` when both are). The query part lists ``name=value``
pairs (repeated names joined with ``,`` after sorting) of every argument in
name order, or of ``vary_query_params`` in their configured order; the
headers part does the same for ``vary_headers`` (none by default).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["build_cache_key", "prefix"]


def prefix(consumer_id: str | None, route_id: str | None) -> str:
    """The per-consumer, per-route part of the key."""
    if consumer_id and route_id:
        return f"{consumer_id}:{route_id}"
    return consumer_id or route_id or "default"


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def _part(values: dict[str, list[str]], fields: Iterable[str]) -> str:
    items = []
    for name in fields:
        found = values.get(name)
        if found:
            joined = ",".join(sorted(found)) if len(found) > 1 else found[0]
            items.append(f"{name}={joined}")
    return ":".join(items)


def build_cache_key(
    consumer_id: str | None,
    route_id: str | None,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: list[tuple[str, str]],
    vary_query_params: list[str] | None,
    vary_headers: list[str] | None,
) -> str:
    """The cache key of a request.

    :param query: decoded query arguments, in order.
    :param headers: request headers (names compared lower-case).
    """
    args = _grouped(query)
    params = _part(args, vary_query_params if vary_query_params else sorted(args))
    varied = ""
    if vary_headers:
        lowered = _grouped((name.lower(), value) for name, value in headers)
        varied = _part(lowered, [name.lower() for name in vary_headers])
    text = f"{prefix(consumer_id, route_id)}|{method}|{path}|{params}|{varied}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
