"""``oauth2`` (Kong's ``kong/plugins/oauth2/access.lua``, priority 1400).

On a route using the plugin, a path ending in ``/oauth2/authorize`` or
``/oauth2/token`` (optional trailing ``/``) is answered here (POST only,
HTTPS only: see :mod:`~kongtx.plugins.oauth2.flows`). Any other request must
carry an access token (``auth_header_name`` as ``Bearer <t>``/``Token <t>``,
or an ``access_token`` parameter); the token, its client and the client's
consumer are read through the entity cache (no I/O on a hit), and the token
must belong to this service (unless ``global_credentials``) and not be
expired. Upstream gets the consumer headers, ``X-Credential-Identifier:
<client_id>``, ``X-Authenticated-Scope`` and ``X-Authenticated-UserId``.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from kongtx import KONG_COMPAT_VERSION
from kongtx.cache import then
from kongtx.errors import ProxyExit
from kongtx.http.request_body import FORM, group_repeated, media_kind
from kongtx.plugins import authn
from kongtx.plugins.base import PluginHandler, PluginNode, ProxyContext
from kongtx.plugins.oauth2 import flows
from kongtx.plugins.oauth2.store import EntityStore
from kongtx.proxy.header_rewrite import TrustedIPs

__all__ = ["OAuth2Handler", "find_endpoint"]

SCOPE_HEADER = "X-Authenticated-Scope"
USERID_HEADER = "X-Authenticated-UserId"
MISSING = "The access token is missing"
INVALID = "The access token is invalid or has expired"
GLOBAL = (
    "The access token is global, but the current plugin is configured without 'global_credentials'"
)
_BODY_METHODS = ("POST", "PUT", "PATCH")


def find_endpoint(path: str) -> str | None:
    """``token``, ``authorization`` or None for the request path."""
    trimmed = path[:-1] if path.endswith("/") else path
    if trimmed.endswith("/oauth2/token"):
        return "token"
    if trimmed.endswith("/oauth2/authorize"):
        return "authorization"
    return None


def _challenge(
    conf: dict[str, Any], error: str | None = None, description: str | None = None
) -> str:
    """Kong's ``WWW-Authenticate``: ``Bearer[ realm="r"][ error="e" error_description="d"]``."""
    realm = conf.get("realm")
    value = "Bearer" + (f' realm="{realm}"' if realm is not None else "")
    if error is not None:
        value += f' error="{error}" error_description="{description}"'
    return value


def _invalid_token(conf: dict[str, Any], description: str = INVALID) -> ProxyExit:
    return ProxyExit(
        401,
        body={"error": "invalid_token", "error_description": description},
        headers=[("WWW-Authenticate", _challenge(conf, "invalid_token", description))],
    )


class OAuth2Handler(PluginHandler):
    """The ``oauth2`` plugin."""

    name = "oauth2"
    priority = 1400
    version = KONG_COMPAT_VERSION

    def __init__(self) -> None:
        self._trusted = TrustedIPs(())
        self._reactor: Any = None

    def init_worker(self, node: PluginNode) -> None:
        """The ``trusted_ips`` whose ``X-Forwarded-Proto`` counts (``accept_http_if_already_terminated``)."""
        self._trusted = TrustedIPs(node.config.trusted_ips)
        self._reactor = node.reactor

    # -- the authorization server -----------------------------------------------------
    def _https(self, ctx: ProxyContext, conf: dict[str, Any]) -> tuple[bool, str | None]:
        """Kong's ``check_https``."""
        if ctx.request.scheme == "https":
            return True, None
        if not conf.get("accept_http_if_already_terminated"):
            return False, None
        if ctx.client_ip not in self._trusted:
            return False, None
        values = ctx.request.headers.get_all("x-forwarded-proto")
        if len(values) > 1:
            return False, "Only one X-Forwarded-Proto header allowed"
        return bool(values) and values[0].lower() == "https", None

    async def _parameters(self, ctx: ProxyContext) -> dict[str, Any]:
        """Kong's ``retrieve_parameters``: the query string, overridden by the body's arguments."""
        params: dict[str, Any] = group_repeated(ctx.query_args())
        if ctx.request.method in _BODY_METHODS:
            body = await ctx.get_body()
            args = body.args() if body is not None else None
            if isinstance(args, dict):
                params.update(args)
        return params

    async def _endpoint(self, ctx: ProxyContext, conf: dict[str, Any], endpoint: str) -> None:
        https, https_error = self._https(ctx, conf)
        service_id = (ctx.service or {}).get("id")
        request = flows.OAuthRequest(
            params=await self._parameters(ctx),
            authorization=ctx.request.headers.get(conf.get("auth_header_name") or "authorization"),
            https=https,
            https_error=https_error,
            service_id=service_id,
            now=int(ctx.clock.seconds()),
        )
        store = EntityStore(ctx.entities)
        if endpoint == "token":
            status, body, headers = await flows.issue_token(store, conf, request, self._reactor)
        else:
            status, body, headers = await flows.authorize(store, conf, request)
        raise ProxyExit(status, body=body, headers=headers)

    # -- resource access ----------------------------------------------------------------
    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> Deferred[None] | None:
        """Serve the oauth2 endpoints, else authenticate the access token."""
        endpoint = find_endpoint(ctx.path)
        if endpoint is not None:
            method = ctx.request.method
            if method != "POST":
                description = f"The HTTP method {method} is invalid for the {endpoint} endpoint"
                raise ProxyExit(
                    405,
                    body={"error": "invalid_method", "error_description": description},
                    headers=[("WWW-Authenticate", _challenge(conf, "invalid_method", description))],
                )
            return Deferred.fromCoroutine(self._endpoint(ctx, conf, endpoint))
        anonymous = conf.get("anonymous")
        if authn.or_already_done(ctx, anonymous):
            _set_token_headers(ctx, None)  # Kong: no client-sent copies upstream
            return None
        header_name = conf.get("auth_header_name") or "authorization"
        value = ctx.request.headers.get(header_name)
        if value is None and ctx.request.method in _BODY_METHODS:
            return Deferred.fromCoroutine(self._access_with_body(ctx, conf))
        return self._authenticate(ctx, conf, self._token_from(ctx, conf, value, None))

    async def _access_with_body(self, ctx: ProxyContext, conf: dict[str, Any]) -> None:
        body = await ctx.get_body()
        result = self._authenticate(ctx, conf, self._token_from(ctx, conf, None, body))
        if isinstance(result, Deferred):
            await result

    def _token_from(
        self, ctx: ProxyContext, conf: dict[str, Any], header: str | None, body: Any
    ) -> str | None:
        """Kong's ``parse_access_token`` (and hide_credentials)."""
        hide = conf.get("hide_credentials")
        if header is not None:
            parts = header.split()
            token = header
            if len(parts) == 2 and parts[0].lower() in ("token", "bearer"):
                token = parts[1]
                if hide:
                    ctx.request.headers.remove(conf.get("auth_header_name") or "authorization")
            return token
        pairs = ctx.query_args()
        params: dict[str, Any] = group_repeated(pairs)
        args = body.args() if body is not None else None
        if isinstance(args, dict):
            params.update(args)
        found = params.get("access_token")
        if not isinstance(found, str):
            return None
        if hide:
            if any(k == "access_token" for k, _ in pairs):
                ctx.set_query_args([(k, v) for k, v in pairs if k != "access_token"])
            content_type = ctx.request.headers.get("content-type")
            if (
                ctx.request.method != "GET"
                and media_kind(content_type) == FORM
                and body is not None
                and body.get("access_token") is not None
            ):
                ctx.set_body(body.without("access_token"))
        return found

    def _authenticate(
        self, ctx: ProxyContext, conf: dict[str, Any], access_token: str | None
    ) -> Deferred[None] | None:
        anonymous = conf.get("anonymous")
        if not access_token:
            missing = ProxyExit(
                401,
                body={"error": "invalid_request", "error_description": MISSING},
                headers=[("WWW-Authenticate", _challenge(conf))],
            )
            return _fail(ctx, anonymous, missing)

        def with_token(token: dict[str, Any] | None) -> Any:
            service_id = (ctx.service or {}).get("id")
            if (
                token is not None
                and not conf.get("global_credentials")
                and not token.get("service")
            ):
                return _fail(ctx, anonymous, _invalid_token(conf, GLOBAL))
            token_service = (token or {}).get("service") or {}
            if (
                token is None
                or (token_service.get("id") and token_service.get("id") != service_id)
                or _expired(token, ctx.clock.seconds())
            ):
                return _fail(ctx, anonymous, _invalid_token(conf))
            credential_id = (token.get("credential") or {}).get("id")

            def with_credential(credential: dict[str, Any] | None) -> Any:
                if credential is None:
                    return _fail(ctx, anonymous, _invalid_token(conf))

                def with_consumer(consumer: dict[str, Any] | None) -> Any:
                    if consumer is None:
                        return _fail(ctx, anonymous, _invalid_token(conf))
                    _set_token_headers(ctx, token)
                    authn.set_consumer(ctx, consumer, credential, credential.get("client_id"))
                    return None

                consumer_id = (credential.get("consumer") or {}).get("id")
                return then(
                    ctx.entities.consumer(consumer_id) if consumer_id else None, with_consumer
                )

            return then(
                ctx.entities.row("oauth2_credentials", "id", credential_id)
                if credential_id
                else None,
                with_credential,
            )

        return then(ctx.entities.row("oauth2_tokens", "access_token", access_token), with_token)


def _fail(ctx: ProxyContext, anonymous: str | None, error: ProxyExit) -> Any:
    """A failed authentication: no token headers upstream, then anonymous or ``error``."""
    _set_token_headers(ctx, None)
    return authn.fail(ctx, anonymous, error)


def _expired(token: dict[str, Any], now: float) -> bool:
    expires_in = token.get("expires_in") or 0
    return bool(expires_in > 0 and now - (token.get("created_at") or 0) > expires_in)


def _set_token_headers(ctx: ProxyContext, token: dict[str, Any] | None) -> None:
    headers = ctx.request.headers
    for name, value in (
        (SCOPE_HEADER, (token or {}).get("scope")),
        (USERID_HEADER, (token or {}).get("authenticated_userid")),
    ):
        if value:
            headers.set(name, authn.header_value(str(value)))
        else:
            headers.remove(name)
