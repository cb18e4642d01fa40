"""The gateway core: one request through Kong's phases, whatever the front-end.

``Gateway.handle(request, writer)`` routes the request, runs the plugin
pipeline, forwards to the upstream through the pooled client and streams the
response back. It works on :class:`~kongtx.http.gateway_io.GatewayRequest` and
a :class:`~kongtx.http.gateway_io.ResponseWriter` only.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from typing import Any, Callable

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from kongtx import __version__
from kongtx.cache import Entities, EntityCache
from kongtx.config import Config
from kongtx.errors import ProxyExit, UpstreamFailure
from kongtx.http.body import StreamBody, spool_body
from kongtx.http.client import UpstreamResponse
from kongtx.http.gateway_io import GatewayRequest, ResponseWriter
from kongtx.http.headers import Headers
from kongtx.proxy import header_rewrite, phases, responses
from kongtx.proxy.context import ProxyContext
from kongtx.proxy.paths import climbs_above_root, upstream_path
from kongtx.proxy.relay import send_response
from kongtx.proxy.snapshot import Snapshot
from kongtx.proxy.upstream import UpstreamForwarder

log = Logger()

SERVER_TOKEN = f"kongtx/{__version__}"
VIA_TOKEN = f"1.1 {SERVER_TOKEN}"


class HeaderSettings:
    """The ``headers`` and ``headers_upstream`` settings, parsed once."""

    def __init__(self, headers: list[str], headers_upstream: list[str]) -> None:
        tokens = {h.strip().lower() for h in headers if h.strip()}
        off = "off" in tokens
        self.server_tokens = not off and bool(tokens & {"server_tokens", "server", "via"})
        self.via = not off and bool(tokens & {"server_tokens", "via"})
        self.server = not off and bool(tokens & {"server_tokens", "server"})
        latency = not off and "latency_tokens" in tokens
        self.proxy_latency = latency or "x-kong-proxy-latency" in tokens
        self.upstream_latency = latency or "x-kong-upstream-latency" in tokens
        self.response_latency = latency or "x-kong-response-latency" in tokens
        self.request_id = not off and "x-kong-request-id" in tokens
        self.upstream_status = not off and "x-kong-upstream-status" in tokens
        upstream = {h.strip().lower() for h in headers_upstream}
        self.upstream_request_id = "x-kong-request-id" in upstream and "off" not in upstream


_random_bits = random.Random(os.urandom(32)).getrandbits


def _new_request_id() -> str:
    """32 hex characters, like Kong's request ids (not a secret: no syscall per request)."""
    return "%032x" % _random_bits(128)


class Gateway:
    """The proxy core shared by every front-end.

    :param clock: the reactor's time.
    :param snapshot: returns the current :class:`Snapshot`.
    :param forwarder: sends requests upstream (balancing, retries, TLS).
    :param settings: the node's ``Config`` (``headers``, ``trusted_ips``, ``real_ip_header``, ...).
    """

    def __init__(
        self,
        clock: IReactorTime,
        snapshot: Callable[[], Snapshot],
        forwarder: UpstreamForwarder,
        settings: Config,
        node_id: str | None = None,
        entities: Entities | None = None,
    ) -> None:
        self.clock = clock
        self.node_id = node_id
        #: Consumers and credentials through the entity cache, handed to each request.
        self.entities = entities if entities is not None else Entities(EntityCache(clock))
        self._snapshot = snapshot
        self.forwarder = forwarder
        self.headers = HeaderSettings(settings.headers, settings.headers_upstream)
        self.trusted = header_rewrite.TrustedIPs(settings.trusted_ips)
        self.real_ip_header = settings.real_ip_header
        self.real_ip_recursive = settings.real_ip_recursive
        self.error_default_type = settings.error_default_type
        self.error_templates = responses.load_templates(settings)
        #: port_maps "80:8000": the port clients used, by the port kongtx listens on.
        self.port_maps = {
            int(inside): int(outside)
            for outside, _, inside in (entry.strip().partition(":") for entry in settings.port_maps)
        }
        self.requests_total = 0
        #: Called with each finished request's context (the node's proxy access log).
        self.access_log: Callable[[ProxyContext], None] | None = None
        self._replaced_upstream = (
            header_rewrite.HOP_BY_HOP | header_rewrite.FORWARDED | {"via", "x-kong-request-id"}
        )
        tokens = self.headers
        ours = {
            "x-kong-upstream-latency": tokens.upstream_latency,
            "x-kong-proxy-latency": tokens.proxy_latency,
            "x-kong-upstream-status": tokens.upstream_status,
            "x-kong-request-id": tokens.request_id,
        }
        # Upstream copies of the headers kongtx sets are replaced, the others pass through.
        self._replaced_response = header_rewrite.RESPONSE_HOP_BY_HOP | {
            name for name, on in ours.items() if on
        }

    # -- entry point -------------------------------------------------------------
    def handle(self, request: GatewayRequest, writer: ResponseWriter) -> Deferred[None]:
        """Serve one request; the Deferred fires after the log phase.

        The request runs as plain calls while nothing waits (the common case: no
        coroutine and no Deferred of its own until the upstream answers); each step
        returns ``None`` when it is done, or a Deferred the next step is chained to.
        """
        self.requests_total += 1
        if not header_rewrite.valid_host(request.headers.get("host")) or climbs_above_root(
            request.path
        ):
            self.reject(request, writer, 400)
            return succeed(None)
        ctx = ProxyContext(request, self._snapshot(), self.clock, _new_request_id(), self.entities)
        ctx.node_id = self.node_id
        ctx.client_ip = header_rewrite.real_client_ip(
            request.client_ip,
            request.headers,
            self.trusted,
            self.real_ip_header,
            self.real_ip_recursive,
        )
        try:
            answered = self._answer(ctx, writer)
            if answered is None:
                logged = self._log(None, ctx)
                if logged is None:
                    return succeed(None)
            else:
                logged = answered.addCallback(self._log, ctx)
        except Exception:
            logged = fail()
        return logged.addErrback(self._crashed, ctx, writer)

    def reject(self, request: GatewayRequest, writer: ResponseWriter, status: int) -> None:
        """Answer a request the front-end refused (e.g. 413) with Kong's nginx-level error page."""
        ctx = ProxyContext(request, self._snapshot(), self.clock, _new_request_id(), self.entities)
        status, headers, body = responses.render_nginx_error(
            status, request.headers, ctx.request_id, self.error_default_type, self.error_templates
        )
        headers.set("Connection", "close")
        self._add_generated_headers(ctx, headers)
        self._write_simple(ctx, writer, status, headers, body)
        if self.access_log is not None:
            self.access_log(ctx)

    def _crashed(self, failure: Failure, ctx: ProxyContext, writer: ResponseWriter) -> None:
        log.failure(
            "unexpected error while proxying {method} {target}",
            failure,
            method=ctx.request.method,
            target=ctx.request.target,
        )
        if ctx.response_status == 0:
            status, headers, body = responses.render_exit(
                ProxyExit(500), ctx.request.headers, ctx.request_id, self.error_templates
            )
            self._add_generated_headers(ctx, headers)
            self._write_simple(ctx, writer, status, headers, body)
        else:
            writer.abort()

    def _answer(self, ctx: ProxyContext, writer: ResponseWriter) -> Deferred[Any] | None:
        """Rewrite, route and access, then proxy, or answer the exit a plugin or Kong raised."""
        try:
            waiting = phases.start_rewrite(ctx)
            if waiting is None:
                waiting = self._route_and_access(ctx)
            else:
                waiting.addCallback(lambda _: self._route_and_access(ctx))
        except Exception:
            return self._respond_failure(Failure(), ctx, writer)
        if waiting is None:
            return self._proxy(ctx, writer)
        return waiting.addCallbacks(
            lambda _: self._proxy(ctx, writer),
            self._respond_failure,
            errbackArgs=(ctx, writer),
        )

    def _respond_failure(
        self, failure: Failure, ctx: ProxyContext, writer: ResponseWriter
    ) -> Deferred[None]:
        """Answer what rewrite or access raised: a ``ProxyExit`` as is, anything else as 500."""
        exc = failure.value
        if not isinstance(exc, ProxyExit):
            request = ctx.request
            log.failure(
                "plugin error in {method} {target}",
                failure,
                method=request.method,
                target=request.target,
            )
            exc = ProxyExit(500, "An unexpected error occurred")
        return self._respond_exit(ctx, writer, exc)

    def _log(self, _: object, ctx: ProxyContext) -> Deferred[None] | None:
        """The log phase (when a plugin logs), then the node's access log."""
        if ctx.snapshot.log_phase:
            waiting = phases.start_phase(ctx, "log")
            if waiting is not None:
                return waiting.addCallback(self._access_log, ctx)
        self._access_log(None, ctx)
        return None

    def _access_log(self, _: object, ctx: ProxyContext) -> None:
        if self.access_log is not None:
            self.access_log(ctx)

    # -- phases ------------------------------------------------------------------
    def _route_and_access(self, ctx: ProxyContext) -> Deferred[None] | None:
        """Route the request, then run the access phase of the plugins it collects."""
        snapshot = ctx.snapshot
        request = ctx.request
        scheme = request.scheme
        original_host = request.headers.get("host")
        match = snapshot.router.match(
            request.method,
            original_host,
            request.path,
            request.headers,
            scheme,
            request.sni,
            request.server_port,
        )
        if match is None:
            ctx.plugins = [pr for pr in snapshot.global_plugins if scheme in pr[1]["protocols"]]
            raise ProxyExit(404, "no Route matched with those values")
        ctx.match = match
        route = ctx.route = match.route
        ctx.service = match.service
        self._check_protocol(ctx, route)
        waiting = phases.start_access(ctx)
        if waiting is None:
            self._after_access(None, ctx, original_host)
            return None
        return waiting.addCallback(self._after_access, ctx, original_host)

    @staticmethod
    def _after_access(_: object, ctx: ProxyContext, original_host: str | None) -> None:
        if ctx.service is None:
            # Kong runs the access plugins first (request-termination may answer).
            raise ProxyExit(503, "no Service found with those values")
        host = ctx.request.headers.get("host")
        if host != original_host:
            # A plugin replaced Host (kong.service.request.set_header): it wins over preserve_host.
            ctx.upstream_host = host

    def _check_protocol(self, ctx: ProxyContext, route: Mapping[str, Any]) -> None:
        request = ctx.request
        protocols = route.get("protocols") or ("http", "https")
        if "grpc" in protocols or "grpcs" in protocols:
            # Kong's checks for gRPC routes; kongtx speaks HTTP/1.1 only, so a real gRPC
            # call is told to use HTTP/2.
            if (request.headers.get("content-type") or "").startswith("application/grpc"):
                raise ProxyExit(
                    426,
                    body={"message": "Please use HTTP2 protocol"},
                    headers=[("Connection", "Upgrade"), ("Upgrade", "HTTP/2")],
                )
            raise ProxyExit(415, body={"message": "Non-gRPC request matched gRPC route"})
        if request.scheme != "http" or "http" in protocols or "https" not in protocols:
            return
        if (
            request.client_ip in self.trusted
            and (request.headers.get("x-forwarded-proto") or "").lower() == "https"
        ):
            return
        code = route.get("https_redirect_status_code") or 426
        if code == 426:
            raise ProxyExit(
                426,
                "Please use HTTPS protocol",
                headers=[("Connection", "Upgrade"), ("Upgrade", "TLS/1.2, HTTP/1.1")],
            )
        host, _ = header_rewrite.split_host(
            request.headers.get("x-forwarded-host") if request.client_ip in self.trusted else None
        )
        host = host or header_rewrite.split_host(request.headers.get("host"))[0]
        raise ProxyExit(
            code, None, body=b"", headers=[("Location", f"https://{host}{request.target}")]
        )

    # -- answering ---------------------------------------------------------------
    def _respond_exit(
        self, ctx: ProxyContext, writer: ResponseWriter, exc: ProxyExit
    ) -> Deferred[None]:
        status, headers, body = responses.render_exit(
            exc, ctx.request.headers, ctx.request_id, self.error_templates
        )
        return Deferred.fromCoroutine(
            self._respond_generated(ctx, writer, status, headers, body, source="exit")
        )

    async def _respond_generated(
        self,
        ctx: ProxyContext,
        writer: ResponseWriter,
        status: int,
        headers: Headers,
        body: bytes,
        source: str = "error",
    ) -> None:
        """A response produced by kongtx itself (exit, error): header_filter still runs.

        :param source: Kong's ``kong.response.get_source()``: ``exit`` (a plugin or Kong
            answered on purpose) or ``error``.
        """
        ctx.response_status = status
        ctx.response_headers = headers
        ctx.response_source = source
        self._add_generated_headers(ctx, headers)
        waiting = phases.start_phase(ctx, "header_filter")
        if waiting is not None:
            await waiting
        body = await phases.filter_whole_body(ctx, body)
        self._write_simple(ctx, writer, ctx.response_status, ctx.response_headers, body)

    def _add_generated_headers(self, ctx: ProxyContext, headers: Headers) -> None:
        """Kong's headers on responses kongtx produced itself (before header_filter, as Kong)."""
        settings = self.headers
        if settings.server:
            headers.set("Server", SERVER_TOKEN)
        if settings.response_latency:
            latency = ctx.elapsed_ms()
            ctx.response_latency = latency
            headers.set("X-Kong-Response-Latency", str(latency))
        if settings.request_id:
            headers.set("X-Kong-Request-Id", ctx.request_id)

    def _write_simple(
        self, ctx: ProxyContext, writer: ResponseWriter, status: int, headers: Headers, body: bytes
    ) -> None:
        ctx.response_status = status
        if ctx.request.method == "HEAD":
            headers.set("Content-Length", str(len(body)))
            body = b""
        elif (
            "content-length" not in headers and status not in (204, 304) and not 100 <= status < 200
        ):
            headers.set("Content-Length", str(len(body)))
        ctx.response_size = len(body)
        writer.write_head(status, headers)
        if body:
            writer.write(body)
        writer.finish()

    # -- proxying ----------------------------------------------------------------
    def _prepare_upstream(self, ctx: ProxyContext) -> tuple[Headers, str]:
        """Rewrite the client's headers into the upstream request's, in one pass over them."""
        request = ctx.request
        route, service, match = ctx.route, ctx.service, ctx.match
        assert route is not None and service is not None and match is not None
        headers = request.headers
        taken = header_rewrite.strip_hop_by_hop(headers, self._replaced_upstream)
        added: list[tuple[str, str]] = []
        if request.method == "GET" and _asks_websocket(taken.get("upgrade")):
            # Kong's $upstream_upgrade: only a WebSocket upgrade goes through. Any other
            # protocol (h2c...) would turn the connection into a tunnel past the router.
            added.append(("Connection", "keep-alive, Upgrade"))
            added.append(("Upgrade", "websocket"))
        te = taken.get("te")
        if te and "trailers" in te[0].lower():
            added.append(("TE", "trailers"))
        path = ctx.upstream_path
        if path is None:
            path = upstream_path(
                service.get("path"),
                match,
                route.get("strip_path", True),
                route.get("path_handling") or "v0",
            )
            ctx.upstream_path = path  # the log serializer's upstream_uri
        query = ctx.upstream_query
        target = path if query is None else f"{path}?{query}"
        added += header_rewrite.forwarded_headers(
            taken,
            trusted=request.client_ip in self.trusted,
            peer=request.client_ip,
            client_ip=ctx.client_ip,
            scheme=request.scheme,
            host=header_rewrite.split_host(headers.get("host"))[0],
            server_port=self.port_maps.get(request.server_port, request.server_port),
            path=request.path,
            prefix=match.prefix if route.get("strip_path", True) else None,
        )
        via = taken.get("via")
        added.append(("Via", f"{', '.join(via)}, {VIA_TOKEN}" if via else VIA_TOKEN))
        if self.headers.upstream_request_id:
            added.append(("X-Kong-Request-Id", ctx.request_id))
        else:
            kept = taken.get("x-kong-request-id")
            if kept:
                added.append(("X-Kong-Request-Id", kept[0]))
        headers.extend(added)
        return headers, target

    def _proxy(self, ctx: ProxyContext, writer: ResponseWriter) -> Deferred[None]:
        headers, target = self._prepare_upstream(ctx)
        body = ctx.request.body
        assert ctx.route is not None
        if isinstance(body, StreamBody) and ctx.route.get("request_buffering", True):
            return Deferred.fromCoroutine(
                self._spool_and_forward(ctx, writer, body, headers, target)
            )
        return self._forward(ctx, writer, headers, target)

    async def _spool_and_forward(
        self,
        ctx: ProxyContext,
        writer: ResponseWriter,
        body: StreamBody,
        headers: Headers,
        target: str,
    ) -> None:
        """nginx's proxy_request_buffering: read the whole body first (spooled to disk
        past 1 MiB), so the upstream never waits on a slow client and the request can be
        retried on another target."""
        try:
            ctx.request.body = await spool_body(body, self.clock)
        except Exception:
            status, err_headers, data = responses.render_nginx_error(
                400,
                ctx.request.headers,
                ctx.request_id,
                self.error_default_type,
                self.error_templates,
            )
            await self._respond_generated(ctx, writer, status, err_headers, data)
            return
        await self._forward(ctx, writer, headers, target)

    def _forward(
        self, ctx: ProxyContext, writer: ResponseWriter, headers: Headers, target: str
    ) -> Deferred[None]:
        ctx.upstream_started = self.clock.seconds()
        ctx.proxy_latency = int((ctx.upstream_started - ctx.started_at) * 1000)
        websocket = headers.get("upgrade") == "websocket"
        return self.forwarder.forward(ctx, target, headers).addCallbacks(
            self._relay,
            self._forward_failed,
            callbackArgs=(ctx, writer, websocket),
            errbackArgs=(ctx, writer),
        )

    def _forward_failed(
        self, failure: Failure, ctx: ProxyContext, writer: ResponseWriter
    ) -> Deferred[None] | Failure:
        """Answer a forward that ended without a response (anything else is a crash)."""
        exc = failure.value
        if isinstance(exc, ProxyExit):
            # A plugin's body wrapper (e.g. request-size-limiting) ended the request.
            return self._respond_exit(ctx, writer, exc)
        if not isinstance(exc, UpstreamFailure):
            return failure
        return self._upstream_failed(ctx, writer, exc)

    def _upstream_failed(
        self, ctx: ProxyContext, writer: ResponseWriter, exc: UpstreamFailure
    ) -> Deferred[None]:
        """nginx's error page for a failed upstream (or Kong's message when it has one)."""
        status, err_headers, page = responses.render_nginx_error(
            exc.status,
            ctx.request.headers,
            ctx.request_id,
            self.error_default_type,
            self.error_templates,
        )
        if exc.message is not None:
            status, err_headers, page = responses.render_exit(
                ProxyExit(exc.status, exc.message),
                ctx.request.headers,
                ctx.request_id,
                self.error_templates,
            )
        return Deferred.fromCoroutine(
            self._respond_generated(ctx, writer, status, err_headers, page)
        )

    def _relay(
        self,
        response: UpstreamResponse,
        ctx: ProxyContext,
        writer: ResponseWriter,
        websocket: bool,
    ) -> Deferred[None] | None:
        """The upstream answered: Kong's response headers, header_filter, then the body."""
        if response.status == 101 and not websocket:
            _refuse_switch(response)
            return self._upstream_failed(ctx, writer, UpstreamFailure(502))
        assert ctx.upstream_started is not None
        ctx.upstream_latency = int((self.clock.seconds() - ctx.upstream_started) * 1000)
        ctx.upstream_status = str(response.status)
        ctx.response_status = response.status
        ctx.response_headers = response.headers
        ctx.response_source = "service"
        header_rewrite.strip_hop_by_hop(
            response.headers, self._replaced_response if response.status != 101 else _UPGRADE_KEPT
        )
        self._add_response_headers(ctx, response.headers)
        waiting = phases.start_phase(ctx, "header_filter")
        if waiting is None:
            return send_response(ctx, writer, response)
        return waiting.addCallback(lambda _: send_response(ctx, writer, response))

    def _add_response_headers(self, ctx: ProxyContext, headers: Headers) -> None:
        """Kong's headers on a proxied response (upstream copies of them were taken out)."""
        settings = self.headers
        added: list[tuple[str, str]] = []
        if settings.via:
            via = headers.get("via")
            if via is not None:
                headers.remove("via")
            added.append(("Via", f"{via}, {VIA_TOKEN}" if via else VIA_TOKEN))
        if settings.server and "server" not in headers:
            added.append(("Server", SERVER_TOKEN))
        if settings.upstream_latency:
            added.append(("X-Kong-Upstream-Latency", str(ctx.upstream_latency)))
        if settings.proxy_latency:
            added.append(("X-Kong-Proxy-Latency", str(ctx.proxy_latency)))
        if settings.upstream_status:
            added.append(("X-Kong-Upstream-Status", ctx.upstream_status or ""))
        if settings.request_id:
            added.append(("X-Kong-Request-Id", ctx.request_id))
        cookie = ctx.shared.get("balancer_set_cookie")
        if cookie is not None:
            added.append(("Set-Cookie", cookie))
        headers.extend(added)


_UPGRADE_KEPT = frozenset(("keep-alive",))


def _asks_websocket(upgrade: list[str] | None) -> bool:
    """Whether the client's ``Upgrade`` is exactly ``websocket`` (nginx's map: any case)."""
    if not upgrade or len(upgrade) != 1:
        return False
    return upgrade[0].strip().lower() == "websocket"


def _refuse_switch(response: UpstreamResponse) -> None:
    """A ``101`` to a request that asked for no upgrade the gateway forwarded: never splice
    it (the caller answers 502)."""
    if response.upgraded is not None:
        response.upgraded.close()
    log.warn("upstream switched protocols without a forwarded WebSocket upgrade: 502")


__all__ = ["Gateway", "HeaderSettings"]
