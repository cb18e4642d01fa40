"""The Admin API: a Klein app whose endpoints are generated from the schemas.

Routing is done by our own segment router (:mod:`kongtx.admin.dispatch`) behind
one Klein branch route, so that trailing slashes, 404/405, HEAD and OPTIONS
behave as in Kong, and so that entities registered after import (plugin
credentials) get endpoints: the table is rebuilt whenever the registry grows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from klein import Klein
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from kongtx import __version__
from kongtx.admin.crud import Crud, Endpoint, is_uuid
from kongtx.admin.decode import DEFAULT_MAX_ARGS
from kongtx.admin.dispatch import Dispatcher
from kongtx.admin.errors import (
    JSON_CONTENT_TYPE,
    AdminError,
    dump_json,
    method_not_allowed,
    not_found,
)
from kongtx.admin.guard import AdminGuard
from kongtx.admin.request import AdminRequest, Response
from kongtx.errors import KongtxError

__all__ = ["AdminAPI"]

_log = Logger()


SERVER_TOKEN = f"kongtx/{__version__}".encode()


class AdminAPI:
    """Kong's Admin API over a DAO.

    :param dao: the store (``kongtx.store`` DAO contract).
    :param config: the :class:`kongtx.config.Config` (``as_dict`` for ``GET /``).
    :param node_id: this node's UUID.
    :param plugins_available: ``{name: {"version": .., "priority": ..}}`` of loaded plugins.
    :param health: optional upstream-health provider (``health()``/``set_health()``).
    :param server_stats: optional callable returning ``/status`` ``server`` counters.
    :param clock: optional ``IReactorTime`` (validation defaults, 0.x ``created_at``).
    :param registry: the schema registry (default: ``kongtx.schema.registry``).
    :param declarative: DB-less mode's :class:`~kongtx.declarative.dbless.DeclarativeState`
        (``/config``); ``None`` with a database.
    :param extensions: ``(api, router)`` callables adding endpoints (plugins' Admin APIs).
    """

    def __init__(
        self,
        dao: Any,
        config: Any,
        *,
        node_id: str,
        plugins_available: dict[str, dict[str, Any]] | None = None,
        health: Any = None,
        server_stats: Callable[[], dict[str, int]] | None = None,
        clock: Any = None,
        registry: Any = None,
        declarative: Any = None,
        extensions: list[Callable[[AdminAPI, Dispatcher], None]] | None = None,
    ) -> None:
        if registry is None:
            from kongtx.schema import registry

        self.dao = dao
        self.config = config
        self.node_id = node_id
        self.plugins_available = dict(plugins_available or {})
        self.health = health
        self.server_stats = server_stats
        self.clock = clock
        self.registry = registry
        self.declarative = declarative
        self.crud = Crud(self)
        self.extensions = list(extensions or ())
        self.guard = AdminGuard(config)
        self.max_args: int = config.lua_max_post_args if config is not None else DEFAULT_MAX_ARGS
        tokens = {t.lower() for t in (config.headers if config is not None else ["latency_tokens"])}
        self._latency_header = "latency_tokens" in tokens or "x-kong-admin-latency" in tokens
        self._router: Dispatcher | None = None
        self._registered = -1
        self.app = Klein()
        self._wire_klein()

    def resource(self) -> IResource:
        """The twisted.web resource serving this API."""
        return self.app.resource()

    # -- routing table --------------------------------------------------------

    def router(self) -> Dispatcher:
        """The routing table, rebuilt when new entities were registered."""
        entities = self.registry.all()
        if self._router is None or len(entities) != self._registered:
            from kongtx.admin.routes import install_specials

            router = Dispatcher()
            for ent in entities:
                for pattern, methods in self.crud.endpoints(ent):
                    router.add(pattern, methods)
            install_specials(self, router)
            for extend in self.extensions:
                extend(self, router)
            self._router = router
            self._registered = len(entities)
        return self._router

    def endpoint_list(self) -> list[str]:
        """Every route pattern in Kong's ``/services/{services}`` notation."""
        out = []
        for pattern in self.router().patterns:
            parts = [("{" + p[1:] + "}") if p.startswith(":") else p for p in pattern.split("/")]
            out.append("/".join(parts) or "/")
        return sorted(out)

    # -- helpers used by handlers -------------------------------------------

    def ident_field(self, ent: Any) -> str | None:
        """The field a non-UUID path identifier names (injected on PUT)."""
        return {"certificates": "snis", "targets": "target", "acls": "group"}.get(
            ent.name, ent.endpoint_key
        )

    def missing(self, ent: Any, ident: str) -> AdminError:
        """The 404 for an entity that could not be found."""
        if ent.name == "certificates" and not is_uuid(ident):
            return not_found("SNI not found")
        return not_found()

    async def certificate_by_sni(self, name: str) -> dict[str, Any] | None:
        """The certificate owning the SNI ``name``."""
        sni = await self.dao.select_by_key("snis", name)
        if sni is None or not isinstance(sni.get("certificate"), dict):
            return None
        return await self.dao.select("certificates", sni["certificate"]["id"])

    # -- Klein plumbing --------------------------------------------------------

    def _wire_klein(self) -> None:
        app = self.app

        @app.route("/", branch=True, strict_slashes=False)
        def dispatch(request: IRequest) -> Deferred[bytes]:
            return Deferred.fromCoroutine(self._dispatch(request))

        @app.handle_errors(KongtxError)
        def kongtx_error(request: IRequest, failure: Failure) -> bytes:
            err = failure.value
            return self._render(request, Response(err.http_status, err.to_body()))

        @app.handle_errors(Exception)
        def unexpected(request: IRequest, failure: Failure) -> bytes:
            _log.failure("Admin API request failed", failure)
            return self._render(request, Response(500, {"message": "An unexpected error occurred"}))

    def _prepare(self, request: IRequest) -> Response | None:
        """Common headers; the refusal for a Host or Origin the Admin API must not serve."""
        request.defaultContentType = None  # type: ignore[attr-defined] # our bodies are JSON or empty, never text/html
        request.setHeader(b"server", SERVER_TOKEN)
        if self.clock is not None:
            request.kongtx_started = self.clock.seconds()  # type: ignore[attr-defined]
        headers = request.requestHeaders
        host = headers.getRawHeaders(b"host")
        origin = headers.getRawHeaders(b"origin")
        host_value = host[0].decode("latin-1") if host else None
        origin_value = origin[0].decode("latin-1") if origin else None
        refused = self.guard.refusal(host_value, origin_value)
        if refused is not None:
            return Response(refused[0], {"message": refused[1]})
        allowed = self.guard.cors_origin(origin_value)
        request.setHeader(b"access-control-allow-origin", allowed.encode("latin-1"))
        request.setHeader(b"access-control-allow-credentials", b"true")
        if allowed != "*":
            request.setHeader(b"vary", b"Origin")
        return None

    async def _dispatch(self, request: IRequest) -> bytes:
        refused = self._prepare(request)
        if refused is not None:
            return self._render(request, refused)
        raw_path = request.path.decode("latin-1")
        segments = [unquote(s, errors="replace") for s in raw_path.split("/") if s]
        method = request.method.decode("latin-1").upper()
        found = self.router().match(segments)
        if found is None:
            raise not_found()
        _, methods, params = found
        if "*" in methods:  # a disabled endpoint (Kong's ``Endpoints.disable``)
            return self._render(
                request,
                await methods["*"](AdminRequest(request, method, raw_path, self.max_args), params),
            )
        if method == "OPTIONS":
            return self._render(request, self._options(request, methods))
        handler: Endpoint | None = methods.get("GET" if method == "HEAD" else method)
        if handler is None:
            raise method_not_allowed()
        response = await handler(AdminRequest(request, method, raw_path, self.max_args), params)
        return self._render(request, response)

    def _options(self, request: IRequest, methods: dict[str, Endpoint]) -> Response:
        verbs = set(methods) | {"OPTIONS"}
        if "GET" in verbs:
            verbs.add("HEAD")
        allow = ", ".join(sorted(verbs))
        req_headers = request.requestHeaders.getRawHeaders(b"access-control-request-headers")
        return Response(
            204,
            None,
            {
                "Allow": allow,
                "Access-Control-Allow-Methods": allow,
                "Access-Control-Allow-Headers": req_headers[0].decode("latin-1")
                if req_headers
                else "Content-Type",
            },
        )

    def _render(self, request: IRequest, response: Response) -> bytes:
        request.setResponseCode(response.status)
        started = getattr(request, "kongtx_started", None)
        if started is not None and self._latency_header:
            latency = int((self.clock.seconds() - started) * 1000)
            request.setHeader(b"x-kong-admin-latency", str(latency).encode())
        for name, value in response.headers.items():
            request.setHeader(name.encode("latin-1"), value.encode("latin-1"))
        if isinstance(response.body, bytes):  # a ready body (its Content-Type in headers)
            request.setHeader(b"content-length", str(len(response.body)).encode())
            return response.body
        if response.body is None:
            request.setHeader(b"content-length", b"0")
            if response.status != 204:
                request.responseHeaders.removeHeader(b"content-type")
            return b""
        body = response.body
        payload = body if isinstance(body, bytes) else dump_json(body)
        request.setHeader(b"content-type", JSON_CONTENT_TYPE)
        request.setHeader(b"content-length", str(len(payload)).encode())
        return payload
