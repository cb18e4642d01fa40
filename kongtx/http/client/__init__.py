"""The upstream HTTP/1.1 client: httptools-parsed keep-alive connections and their pool.

Usage::

    pool = UpstreamPool(reactor, pool_size=512, idle_timeout=60.0, max_requests=10000)
    response = await pool.request(
        UpstreamRequest("GET", "/path?q=1", headers, body=None),
        UpstreamAddress("10.0.0.5", 8080),
        connect_timeout=60.0, write_timeout=60.0, read_timeout=60.0,
    )
"""

from __future__ import annotations

from kongtx.http.client._connection import UpstreamConnection
from kongtx.http.client._pool import UpstreamPool
from kongtx.http.client._types import (
    UpstreamAddress,
    UpstreamClosed,
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRequest,
    UpstreamResponse,
    UpstreamTimeout,
    serialize_head,
)

__all__ = [
    "UpstreamAddress",
    "UpstreamClosed",
    "UpstreamConnectError",
    "UpstreamConnection",
    "UpstreamError",
    "UpstreamPool",
    "UpstreamProtocolError",
    "UpstreamRequest",
    "UpstreamResponse",
    "UpstreamTimeout",
    "serialize_head",
]
