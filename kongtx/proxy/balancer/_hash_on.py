"""The consistent-hashing value of a request (Kong's ``hash_on``/``hash_fallback``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _value_for(
    ctx: Any,
    mode: str | None,
    header: str | None,
    cookie: str | None,
    query_arg: str | None,
    capture: str | None,
) -> str | None:
    if mode is None or mode == "none":
        return None
    if mode == "consumer":
        return ctx.consumer_id or ctx.credential_id
    if mode == "ip":
        return ctx.client_ip
    if mode == "header":
        return ctx.headers.get(header) if header else None
    if mode == "cookie":
        return (ctx.cookies or {}).get(cookie) if cookie else None
    if mode == "path":
        return ctx.path
    if mode == "query_arg":
        value = (ctx.query or {}).get(query_arg) if query_arg else None
        if isinstance(value, (list, tuple)):
            return ",".join(sorted(str(v) for v in value)) if value else None
        return value if isinstance(value, str) else None
    if mode == "uri_capture":
        return (ctx.uri_captures or {}).get(capture) if capture else None
    return None


def hash_input(upstream_row: Mapping[str, Any], ctx: Any) -> str | None:
    """The consistent-hashing value for a request, per ``hash_on`` then ``hash_fallback``.

    ``ctx`` is duck-typed: ``consumer_id``, ``credential_id``, ``client_ip``,
    ``headers`` (``get``), ``cookies`` (dict), ``path``, ``query`` (dict),
    ``uri_captures`` (dict). ``None`` means: select round-robin. With
    ``hash_on=cookie`` and no cookie, Kong generates a UUID, hashes on it and
    sets the cookie (:func:`hash_cookie_header`): that is the caller's job.
    """
    u = upstream_row
    value = _value_for(
        ctx,
        u.get("hash_on"),
        u.get("hash_on_header"),
        u.get("hash_on_cookie"),
        u.get("hash_on_query_arg"),
        u.get("hash_on_uri_capture"),
    )
    if value is None:
        value = _value_for(
            ctx,
            u.get("hash_fallback"),
            u.get("hash_fallback_header"),
            None,
            u.get("hash_fallback_query_arg"),
            u.get("hash_fallback_uri_capture"),
        )
    return value


def hash_cookie_header(upstream_row: Mapping[str, Any], value: str) -> str:
    """The ``Set-Cookie`` value Kong sends when it generated the hash cookie."""
    path = upstream_row.get("hash_on_cookie_path") or "/"
    return f"{upstream_row['hash_on_cookie']}={value}; Path={path}; Same-Site=Lax; HttpOnly"
