"""Request and response bodies kept for analytics plugins that log them (galileo, runscope).

``access`` buffers the request body (:func:`capture_request`), ``body_filter``
collects the response chunks (:func:`capture_response`), ``log`` reads both
(:func:`captured`). Each plugin keeps its own copy under its own key in
``ctx.shared``; a response body is kept up to :data:`MAX_CAPTURED` bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kongtx.proxy.context import ProxyContext

__all__ = ["MAX_CAPTURED", "capture_request", "capture_response", "captured"]

#: Bytes of a response body kept for logging (the rest still goes to the client).
MAX_CAPTURED = 1 << 20


async def capture_request(ctx: ProxyContext, key: str) -> None:
    """Buffer the request body and keep it under ``key``."""
    body = await ctx.read_body()
    ctx.shared[key] = {"request": body, "response": [], "size": 0}


def capture_response(ctx: ProxyContext, key: str, chunk: bytes) -> None:
    """Keep a response chunk (up to :data:`MAX_CAPTURED` bytes in all)."""
    kept = ctx.shared.get(key)
    if kept is None:
        kept = ctx.shared[key] = {"request": None, "response": [], "size": 0}
    room = MAX_CAPTURED - kept["size"]
    if chunk and room > 0:
        piece = chunk[:room]
        kept["response"].append(piece)
        kept["size"] += len(piece)


def captured(ctx: ProxyContext, key: str) -> tuple[bytes | None, bytes | None]:
    """``(request body, response body)`` kept under ``key`` (None when nothing was kept)."""
    kept = ctx.shared.get(key)
    if kept is None:
        return None, None
    return kept["request"], b"".join(kept["response"])
