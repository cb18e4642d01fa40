"""Who a request is counted as, and how counts are printed (shared by the traffic plugins)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kongtx.proxy.context import ProxyContext

__all__ = ["NO_ID", "format_number", "identifier"]

#: Kong's id for "no route" / "no service" in counter keys (global plugins).
NO_ID = "00000000-0000-0000-0000-000000000000"


def identifier(
    ctx: ProxyContext, limit_by: str, header_name: str | None = None, path: str | None = None
) -> str:
    """Kong's identifier for ``limit_by``; the client IP when it gives none.

    ``consumer`` falls back on the credential; ``service`` is the matched
    service's id; ``header`` the first value of ``header_name``; ``path`` the
    request path only when it equals ``path``.
    """
    found: Any = None
    if limit_by == "consumer":
        found = ctx.consumer_id or ctx.credential_id
    elif limit_by == "credential":
        found = ctx.credential_id
    elif limit_by == "service":
        service = ctx.service
        found = service.get("id") if service else None
    elif limit_by == "header":
        found = ctx.request.headers.get(header_name) if header_name else None
    elif limit_by == "path":
        found = ctx.path if ctx.path == path else None
    return found or ctx.client_ip


def format_number(value: float) -> str:
    """A number as Lua prints it in a header: ``5``, ``2.5``."""
    if type(value) is int:
        return str(value)
    return str(int(value)) if float(value).is_integer() else repr(float(value))
