"""``request-size-limiting`` handler: Content-Length checked up front, other bodies counted as they stream."""

from __future__ import annotations

from typing import Any

from kongtx import KONG_COMPAT_VERSION
from kongtx.errors import ProxyExit
from kongtx.plugins.base import PluginHandler, ProxyContext
from kongtx.plugins.request_size_limiting.body import MESSAGE, LimitedBody
from kongtx.plugins.request_size_limiting.schema import SIZE_UNITS

LENGTH_REQUIRED = "A valid Content-Length header is required"


def limit_bytes(conf: dict[str, Any]) -> int:
    """The limit of ``conf`` in bytes."""
    size = conf.get("allowed_payload_size")
    if size is None:
        size = 128
    return int(size) * SIZE_UNITS.get(conf.get("size_unit") or "megabytes", 2**20)


def too_large_status(headers: Any) -> int:
    """413, or 417 when the client waits for ``100 Continue`` (Kong)."""
    expect = headers.get("expect")
    if expect is not None and expect.strip().lower() == "100-continue":
        return 417
    return 413


def _declared_length(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() else None


def _chunked(headers: Any) -> bool:
    return any("chunked" in v.lower() for v in headers.get_all("transfer-encoding"))


class RequestSizeLimitingHandler(PluginHandler):
    """Kong's ``request-size-limiting`` plugin."""

    name = "request-size-limiting"
    priority = 951
    version = KONG_COMPAT_VERSION

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> None:
        request = ctx.request
        headers = request.headers
        limit = limit_bytes(conf)
        length = _declared_length(headers.get("content-length"))
        if length is not None:
            if length > limit:
                raise ProxyExit(too_large_status(headers), MESSAGE)
            return
        body = request.body
        # Without Content-Length, a body can only be chunked (a front-end that
        # de-chunked it drops Transfer-Encoding but keeps the body).
        if conf.get("require_content_length") and body is None and not _chunked(headers):
            raise ProxyExit(411, LENGTH_REQUIRED)
        if body is None:
            return
        known = body.length
        if known is None and getattr(body, "complete", False):
            # The whole body has already arrived (a small chunked request).
            known = getattr(body, "received", None)
        if known is not None:
            if known > limit:
                raise ProxyExit(too_large_status(headers), MESSAGE)
            return
        if getattr(body, "received", 0) > limit:
            raise ProxyExit(too_large_status(headers), MESSAGE)
        request.body = LimitedBody(body, limit, too_large_status(headers))
