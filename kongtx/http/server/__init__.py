"""The native HTTP/1.1 server front-end (httptools/llhttp parsing on a bare Twisted protocol).

``HTTPServerFactory(handler, reactor, ...)`` turns each client request into a
:class:`~kongtx.http.gateway_io.GatewayRequest` and a
:class:`~kongtx.http.gateway_io.ResponseWriter` and calls ``handler(request, writer)``.
"""

from __future__ import annotations

from kongtx.http.raw_channel import RawChannel
from kongtx.http.server._exchange import Exchange, RequestBody
from kongtx.http.server._factory import HTTPServerFactory
from kongtx.http.server._framing import DRAIN_LIMIT
from kongtx.http.server._parsing import WAIT_BUFFER, RequestRejected
from kongtx.http.server._protocol import HTTPServerProtocol

__all__ = [
    "DRAIN_LIMIT",
    "WAIT_BUFFER",
    "Exchange",
    "HTTPServerFactory",
    "HTTPServerProtocol",
    "RawChannel",
    "RequestBody",
    "RequestRejected",
]
