"""``cors`` handler: preflights answered in access, CORS headers added in header_filter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kongtx import KONG_COMPAT_VERSION
from kongtx.errors import ProxyExit
from kongtx.plugins.base import PluginHandler, ProxyContext
from kongtx.plugins.cors.policy import Policy

#: ``ctx.shared`` flag: this request was a preflight; header_filter adds nothing.
SKIP = "cors.skip_response_headers"


class CorsHandler(PluginHandler):
    """Kong's ``cors`` plugin."""

    name = "cors"
    priority = 2000
    version = KONG_COMPAT_VERSION

    def compile(self, conf: dict[str, Any], plugin: Mapping[str, Any] | None = None) -> Any:
        """Digest one configuration (once, in the snapshot)."""
        return Policy(conf)

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> None:
        request = ctx.request
        if request.method != "OPTIONS":
            return
        headers = request.headers
        origin = headers.get("origin")
        if origin is None or headers.get("access-control-request-method") is None:
            return
        ctx.shared[SKIP] = True
        policy = self.compiled(conf)
        if policy.preflight_continue:
            return
        raise ProxyExit(200, headers=policy.preflight_headers(origin, headers))

    def header_filter(self, ctx: ProxyContext, conf: dict[str, Any]) -> None:
        if ctx.shared.get(SKIP):
            return
        origin = ctx.request.headers.get("origin")
        policy = self.compiled(conf)
        if origin is None and not policy.allow_origin_absent:
            return
        acao, vary, credentials = policy.response_headers(origin)
        headers = ctx.response_headers
        assert headers is not None
        if acao is not None:
            headers.set("Access-Control-Allow-Origin", acao)
        else:
            headers.remove("Access-Control-Allow-Origin")
        if vary:
            headers.add("Vary", "Origin")
        if credentials:
            headers.set("Access-Control-Allow-Credentials", "true")
        if policy.expose is not None:
            headers.set("Access-Control-Expose-Headers", policy.expose)
