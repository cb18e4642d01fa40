"""The per-request context plugins and the core share (Kong's ``ngx.ctx`` + PDK)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from kongtx.http.body import BufferedBody, read_body
from kongtx.http.gateway_io import GatewayRequest
from kongtx.http.headers import Headers
from kongtx.http.request_body import ParsedBody, parse_body

if TYPE_CHECKING:
    from kongtx.cache import Entities
    from kongtx.plugins.base import LoadedPlugin
    from kongtx.proxy.snapshot import Snapshot
    from kongtx.router import Match


class ProxyContext:
    """State of one proxied request.

    Plugins read and change the upstream request through :attr:`request`
    (headers, :meth:`set_path`, :meth:`set_query`, :meth:`set_body`), record
    the caller with :meth:`authenticate`, share data through :attr:`shared`,
    and in ``header_filter`` change :attr:`response_status` /
    :attr:`response_headers`.
    """

    __slots__ = (
        "request",
        "snapshot",
        "clock",
        "request_id",
        "started_at",
        "client_ip",
        "match",
        "route",
        "service",
        "consumer",
        "credential",
        "authenticated_groups",
        "shared",
        "plugins",
        "upstream_path",
        "upstream_query",
        "response_status",
        "response_headers",
        "response_source",
        "response_size",
        "tries",
        "upstream_started",
        "upstream_latency",
        "proxy_latency",
        "response_latency",
        "log_extras",
        "upstream_status",
        "_original_path",
        "_query_cache",
        "request_body_replaced",
        "server_port",
        "upstream_host",
        "node_id",
        "entities",
    )

    def __init__(
        self,
        request: GatewayRequest,
        snapshot: Snapshot,
        clock: IReactorTime,
        request_id: str,
        entities: Entities | None = None,
    ) -> None:
        self.request = request
        self.snapshot = snapshot
        self.clock = clock
        self.request_id = request_id
        self.started_at: float = clock.seconds()
        self.client_ip = request.client_ip
        self.server_port = request.server_port
        self.match: Match | None = None
        self.route: Mapping[str, Any] | None = None
        self.service: Mapping[str, Any] | None = None
        self.consumer: dict[str, Any] | None = None
        self.credential: dict[str, Any] | None = None
        self.authenticated_groups: list[str] | None = None
        self.shared: dict[str, Any] = {}
        #: The plugins (and config rows) that run on this request, in Kong's order.
        self.plugins: list[tuple[LoadedPlugin, dict[str, Any]]] = []
        self.upstream_path: str | None = None
        self.upstream_query: str | None = request.query
        self.response_status = 0
        self.response_headers: Headers | None = None
        #: Kong's ``kong.response.get_source()``: ``service``, ``exit`` or ``error``.
        self.response_source = "error"
        self.response_size = 0
        self.tries: list[dict[str, Any]] = []
        self.upstream_started: float | None = None
        self.upstream_latency: int | None = None
        self.proxy_latency: int | None = None
        self.response_latency: int | None = None
        self.log_extras: dict[str, Any] = {}
        self.upstream_status: str | None = None
        self._original_path = request.path
        self._query_cache: list[tuple[str, str]] | None = None
        self.request_body_replaced = False
        #: Host a plugin asked to send upstream (wins over preserve_host and the target).
        self.upstream_host: str | None = None
        self.node_id: str | None = None
        #: Consumers and credentials through the entity cache (see :mod:`kongtx.cache`);
        #: without one (a context built by hand), an empty cache over no store.
        self.entities: Entities = entities if entities is not None else _empty_entities(clock)

    # -- request ---------------------------------------------------------------
    @property
    def path(self) -> str:
        """The client's request path (without query)."""
        return self._original_path

    def query_args(self) -> list[tuple[str, str]]:
        """The (possibly changed) query string, decoded, as ordered pairs."""
        if self._query_cache is None:
            raw = self.upstream_query
            self._query_cache = parse_qsl(raw, keep_blank_values=True) if raw else []
        return list(self._query_cache)

    def set_query_args(self, pairs: list[tuple[str, str]]) -> None:
        """Replace the upstream query string."""
        self._query_cache = list(pairs)
        self.upstream_query = urlencode(pairs) if pairs else None

    def set_upstream_path(self, path: str) -> None:
        """Replace the path sent upstream (plugins run before it is computed; the core keeps this)."""
        self.upstream_path = path

    def read_body(self, limit: int | None = None) -> Deferred[bytes]:
        """Buffer the request body (only plugins that need it call this); later reads are free."""
        body = self.request.body
        if body is None:
            d: Deferred[bytes] = Deferred()
            d.callback(b"")
            return d
        if isinstance(body, BufferedBody):
            d = Deferred()
            d.callback(body.data)
            return d

        def keep(data: bytes) -> bytes:
            self.request.body = BufferedBody(data)
            return data

        return read_body(body, limit).addCallback(keep)

    def get_body(self, limit: int | None = None) -> Deferred[ParsedBody | None]:
        """Kong's ``kong.request.get_body()``: the buffered body parsed by its Content-Type.

        Fires with a :class:`~kongtx.http.request_body.FormBody`, ``JsonBody``
        or ``MultipartBody`` (``.args()``, ``.get(name)``), or ``None`` for a
        body of another type or one that does not parse.
        """
        content_type = self.request.headers.get("content-type")
        return self.read_body(limit).addCallback(lambda raw: parse_body(content_type, raw))

    def set_body(self, data: bytes, content_type: str | None = None) -> None:
        """Replace the request body sent upstream (Content-Length follows)."""
        self.request.body = BufferedBody(data)
        self.request_body_replaced = True
        headers = self.request.headers
        headers.remove("transfer-encoding")
        headers.set("Content-Length", str(len(data)))
        if content_type is not None:
            headers.set("Content-Type", content_type)

    # -- consumers ---------------------------------------------------------------
    def authenticate(
        self, consumer: dict[str, Any] | None, credential: dict[str, Any] | None
    ) -> None:
        """Record the authenticated consumer and credential (Kong's ``kong.client.authenticate``)."""
        self.consumer = consumer
        self.credential = credential

    @property
    def consumer_id(self) -> str | None:
        consumer = self.consumer
        return consumer["id"] if consumer else None

    @property
    def credential_id(self) -> str | None:
        credential = self.credential
        return credential.get("id") if credential else None

    def elapsed_ms(self) -> int:
        """Milliseconds since the request started."""
        return int((self.clock.seconds() - self.started_at) * 1000)


def _empty_entities(clock: IReactorTime) -> Entities:
    from kongtx.cache import Entities, EntityCache

    return Entities(EntityCache(clock))
