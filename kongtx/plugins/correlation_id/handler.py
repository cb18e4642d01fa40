"""correlation-id (Kong priority 100001): a unique id per request, upstream, in the log, and echoed.

Generators: ``uuid`` (a random UUID per request), ``uuid#counter`` (one UUID
per process plus a counter: ``<uuid>#<n>``), ``tracker``
(``<server_addr>-<server_port>-<pid>-<connection>-<connection_requests>-<now>``).
The front-ends do not expose the local address, the connection serial or the
per-connection request count on ``GatewayRequest``; the tracker reads them
from ``server_addr`` / ``connection_id`` / ``connection_requests`` attributes
when a front-end provides them, and otherwise uses ``0.0.0.0``, a per-process
serial number and ``1``.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable
from typing import Any

from kongtx import __version__
from kongtx.plugins.base import PluginHandler, ProxyContext

__all__ = ["CorrelationIdHandler"]

_STATE_KEY = "_correlation_id"


class CorrelationIdHandler(PluginHandler):
    """Kong's correlation-id."""

    name = "correlation-id"
    priority = 100001
    version = __version__

    def __init__(self) -> None:
        self.worker_uuid = str(uuid.uuid4())
        self._counter = itertools.count(1)
        self._serial = itertools.count(1)
        self._pid = os.getpid()
        self.generators: dict[str, Callable[[ProxyContext], str]] = {
            "uuid": lambda ctx: str(uuid.uuid4()),
            "uuid#counter": self._uuid_counter,
            "tracker": self._tracker,
        }

    def _uuid_counter(self, ctx: ProxyContext) -> str:
        return f"{self.worker_uuid}#{next(self._counter)}"

    def _tracker(self, ctx: ProxyContext) -> str:
        request = ctx.request
        addr = getattr(request, "server_addr", None) or "0.0.0.0"
        connection = getattr(request, "connection_id", None) or next(self._serial)
        requests = getattr(request, "connection_requests", None) or 1
        return f"{addr}-{request.server_port}-{self._pid}-{connection}-{requests}-{ctx.clock.seconds():.3f}"

    def generate(self, ctx: ProxyContext, generator: str) -> str:
        """A new id from ``generator`` (``uuid``, ``uuid#counter`` or ``tracker``)."""
        return self.generators[generator](ctx)

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> None:
        """Keep the client's id or set a new one on the upstream request; log it."""
        header = conf.get("header_name") or "Kong-Request-ID"
        headers = ctx.request.headers
        cid = headers.get(header)
        if not cid or not cid.strip():
            cid = self.generate(ctx, conf.get("generator") or "uuid#counter")
            headers.set(header, cid)
        ctx.log_extras["correlation_id"] = cid
        if conf.get("echo_downstream"):
            ctx.shared[_STATE_KEY] = cid

    def header_filter(self, ctx: ProxyContext, conf: dict[str, Any]) -> None:
        """With ``echo_downstream``, send the id back (even on errors and short-circuits)."""
        if not conf.get("echo_downstream"):
            return
        header = conf.get("header_name") or "Kong-Request-ID"
        cid = ctx.shared.get(_STATE_KEY) or ctx.request.headers.get(header)
        if not cid or not cid.strip():
            cid = self.generate(ctx, conf.get("generator") or "uuid#counter")
        if ctx.response_headers is not None:
            ctx.response_headers.set(header, cid)
