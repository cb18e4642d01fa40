"""The oauth2 authorization server: ``/oauth2/authorize`` and ``/oauth2/token`` (Kong's
``kong/plugins/oauth2/access.lua``), over a :class:`Store`.

:func:`authorize` and :func:`issue_token` take the request's merged parameters
(query string, then body) and answer ``(status, body, headers)``; every error
has Kong's ``error``/``error_description``. The store does the reads (the
client through the entity cache) and the writes (codes, tokens) in the
database, so every node sees them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from kongtx.plugins.basic_auth import crypto

__all__ = [
    "Answer",
    "OAuthRequest",
    "Store",
    "authorize",
    "issue_token",
    "pkce_challenge",
]

Row = dict[str, Any]
#: ``(status, JSON body, extra headers)``.
Answer = tuple[int, dict[str, Any], list[tuple[str, str]]]

NO_CACHE = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
CODE_TTL = 300
INVALID_CLIENT = {"error": "invalid_client", "error_description": "Invalid client authentication"}
INVALID_PROVISION_KEY = {
    "error": "invalid_provision_key",
    "error_description": "Invalid provision_key",
}
MISSING_USERID = {
    "error": "invalid_authenticated_userid",
    "error_description": "Missing authenticated_userid parameter",
}
BAD_REDIRECT_URI = {
    "error": "invalid_request",
    "error_description": "Invalid redirect_uri that does not match with any redirect_uri "
    "created with the application",
}
INVALID_CODE = {"error": "invalid_request", "error_description": "Invalid code"}


class Store(Protocol):
    """What the flows read and write (see :class:`~kongtx.plugins.oauth2.store.EntityStore`)."""

    async def client(self, client_id: str) -> Row | None: ...
    async def code(self, code: str) -> Row | None: ...
    async def token_by_refresh(self, refresh_token: str) -> Row | None: ...
    async def insert(self, entity: str, data: Row, ttl: int | None) -> Row: ...
    async def update(self, entity: str, id: str, patch: Row, ttl: int | None) -> Row: ...
    async def delete(self, entity: str, id: str) -> None: ...


@dataclass
class OAuthRequest:
    """One call to an oauth2 endpoint.

    :param params: Kong's merged argument table (query, then body): ``str``,
        ``list`` for a repeated name, or other JSON values.
    :param https: HTTPS (or a trusted terminated one); ``https_error`` says why not.
    :param service_id: the route's service (None with ``global_credentials``).
    """

    params: dict[str, Any]
    authorization: str | None
    https: bool
    https_error: str | None
    service_id: str | None
    now: int


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strip(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def pkce_challenge(verifier: str) -> str:
    """S256: ``base64url(sha256(verifier))`` without padding."""
    return _b64url(hashlib.sha256(verifier.encode("utf-8")).digest())


def _normalize_challenge(challenge: str) -> str:
    """Kong re-encodes a challenge that decodes as base64 (no padding added)."""
    try:
        decoded = base64.b64decode(
            challenge.replace("-", "+").replace("_", "/").encode("ascii"), validate=True
        )
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return challenge
    return _b64url(decoded)


def retrieve_scope(params: dict[str, Any], conf: dict[str, Any]) -> tuple[str | None, Row | None]:
    """The granted scope (space-joined) or an ``invalid_scope`` error, as Kong."""
    scope = params.get("scope")
    allowed = conf.get("scopes")
    scopes: list[str] = []
    if allowed and scope is not None:
        if not isinstance(scope, str):
            return None, {"error": "invalid_scope", "error_description": "scope must be a string"}
        for item in scope.split():
            if item not in allowed:
                return None, {
                    "error": "invalid_scope",
                    "error_description": f'"{item}" is an invalid scope',
                }
            scopes.append(item)
    elif scope is None and conf.get("mandatory_scope"):
        return None, {"error": "invalid_scope", "error_description": "You must specify a scope"}
    return (" ".join(scopes) if scopes else None), None


def _code_challenge(params: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """``(challenge, error, method)`` from ``code_challenge``/``code_challenge_method``."""
    challenge = _str(params.get("code_challenge"))
    method = params.get("code_challenge_method")
    if method is not None and challenge is None:
        return None, "code_challenge is required when code_method is present", None
    if challenge is not None:
        challenge = _normalize_challenge(challenge)
        if method is not None and method != "S256":
            if method != "s256":
                return None, "code_challenge_method is not supported, must be S256", None
            method = "S256"
    return challenge, None, "S256" if challenge is not None else None


def requires_pkce(conf: dict[str, Any], client: Row | None, used_pkce: Any = None) -> bool:
    """Kong: a code made with PKCE, a public client (pkce lax/strict), any client (strict)."""
    if client is None:
        return False
    pkce = conf.get("pkce") or "lax"
    kind = client.get("client_type")
    return bool(
        used_pkce
        or (kind == "public" and pkce != "none")
        or (kind == "confidential" and pkce == "strict")
    )


def _with_params(uri: str, params: dict[str, Any], in_fragment: bool) -> str:
    """``uri`` with ``params`` merged into its query (or fragment), keys sorted as Kong's encode_args."""
    parts = urlsplit(uri)
    existing = dict(
        parse_qsl(parts.fragment if in_fragment else parts.query, keep_blank_values=True)
    )
    existing.update({k: str(v) for k, v in params.items() if v is not None})
    encoded = urlencode(sorted(existing.items()))
    if in_fragment:
        parts = parts._replace(fragment=encoded)
    else:
        parts = parts._replace(query=encoded)
    return urlunsplit(parts)


async def _token(
    store: Store,
    conf: dict[str, Any],
    req: OAuthRequest,
    client: Row,
    authenticated_userid: Any,
    scope: str | None,
    state: Any,
    *,
    disable_refresh: bool = False,
    existing: Row | None = None,
) -> Row:
    """Kong's ``generate_token``: a new token row (or, reusing a refresh token, a new access token)."""
    expiration = int(conf.get("token_expiration") or 0)
    refresh_ttl = int(conf.get("refresh_token_ttl") or 0) or None
    ttl = refresh_ttl if expiration > 0 else None
    if existing is not None and conf.get("reuse_refresh_token"):
        token = await store.update(
            "oauth2_tokens",
            existing["id"],
            {
                "access_token": crypto_random(),
                "expires_in": expiration,
                "created_at": req.now,
            },
            ttl,
        )
        refresh = token.get("refresh_token")
    else:
        refresh = None
        if not disable_refresh and expiration > 0:
            if existing is not None and conf.get("persistent_refresh_token"):
                refresh = existing.get("refresh_token")
            else:
                refresh = crypto_random()
        service_id = None if conf.get("global_credentials") else req.service_id
        data: Row = {
            "service": {"id": service_id} if service_id else None,
            "credential": {"id": client["id"]},
            "authenticated_userid": authenticated_userid,
            "expires_in": expiration,
            "refresh_token": refresh,
            "scope": scope,
        }
        token = await store.insert("oauth2_tokens", data, ttl)
    body: Row = {"access_token": token["access_token"], "token_type": "bearer"}
    if expiration > 0:
        body["expires_in"] = token["expires_in"]
    if refresh is not None:
        body["refresh_token"] = refresh
    if state is not None:
        body["state"] = state
    return body


def crypto_random() -> str:
    """Kong's ``random_string`` for tokens (32 alphanumerics)."""
    from kongtx.schema.entity import random_string

    return random_string()


async def authorize(store: Store, conf: dict[str, Any], req: OAuthRequest) -> Answer:
    """``POST /oauth2/authorize``: a code (``response_type=code``) or a token (``token``)."""
    params = req.params
    state = params.get("state")
    response: Row = {}
    redirect_uri: str | None = None
    implicit = False
    if not req.https:
        response = {
            "error": "access_denied",
            "error_description": req.https_error or "You must use HTTPS",
        }
    elif conf.get("provision_key") != params.get("provision_key"):
        response = dict(INVALID_PROVISION_KEY)
    elif not _strip(params.get("authenticated_userid")):
        response = dict(MISSING_USERID)
    else:
        response_type = params.get("response_type")
        if not (
            (response_type == "code" and conf.get("enable_authorization_code"))
            or (response_type == "token" and conf.get("enable_implicit_grant"))
        ):
            response = {
                "error": "unsupported_response_type",
                "error_description": "Invalid response_type",
            }
        scopes, error = retrieve_scope(params, conf)
        if error is not None:
            response = error
        client_id = params.get("client_id")
        client = await store.client(client_id) if isinstance(client_id, str) and client_id else None
        allowed = (client or {}).get("redirect_uris") if client else None
        if client is None or allowed is None:
            response = dict(INVALID_CLIENT)
            client = None
        else:
            wanted = params.get("redirect_uri") or (allowed[0] if allowed else None)
            if wanted not in allowed:
                response = dict(BAD_REDIRECT_URI)
                wanted = allowed[0] if allowed else None
            redirect_uri = _str(wanted)
        challenge, challenge_error, challenge_method = _code_challenge(params)
        if challenge_error is not None:
            response = {"error": "invalid_request", "error_description": challenge_error}
        elif client is not None and challenge is None and requires_pkce(conf, client):
            response = {
                "error": "invalid_request",
                "error_description": "code_challenge is required for public clients",
            }
        if "error" not in response and client is not None:
            if response_type == "code":
                service_id = None if conf.get("global_credentials") else req.service_id
                code = await store.insert(
                    "oauth2_authorization_codes",
                    {
                        "service": {"id": service_id} if service_id else None,
                        "credential": {"id": client["id"]},
                        "authenticated_userid": params.get("authenticated_userid"),
                        "scope": scopes,
                        "challenge": challenge,
                        "challenge_method": challenge_method,
                    },
                    CODE_TTL,
                )
                response = {"code": code["code"]}
            else:
                response = await _token(
                    store,
                    conf,
                    req,
                    client,
                    params.get("authenticated_userid"),
                    scopes,
                    state,
                    disable_refresh=True,
                )
                implicit = True
    if state is not None:
        response["state"] = state
    status = 400 if "error" in response else 200
    if redirect_uri is not None:
        return (
            status,
            {"redirect_uri": _with_params(redirect_uri, response, implicit)},
            list(NO_CACHE),
        )
    return status, response, list(NO_CACHE)


def client_credentials(
    params: dict[str, Any], authorization: str | None
) -> tuple[str | None, str | None, bool]:
    """``(client_id, client_secret, from_header)``: parameters, else ``Basic`` credentials."""
    client_id, client_secret = params.get("client_id"), params.get("client_secret")
    if client_id is not None and client_secret is not None:
        return _str(client_id), _str(client_secret), False
    if authorization is not None:
        m = re.search(r"\s*[Bb]asic\s*(.+)", authorization)
        if m is not None:
            token = m.group(1).encode("latin-1", errors="replace")
            try:
                decoded = base64.b64decode(token, validate=True).decode("utf-8")
            except (binascii.Error, ValueError, UnicodeDecodeError):
                return None, None, True
            parts = decoded.split(":")
            return parts[0] or None, (parts[1] if len(parts) > 1 else None) or None, True
        return None, None, True
    return _str(client_id), None, False


def _secret_ok(client: Row, given: str | None) -> bool:
    stored = client.get("client_secret")
    if not isinstance(stored, str) or given is None:
        return False
    if client.get("hash_secret"):
        return crypto.check_password(given.encode("utf-8"), stored)
    return hmac.compare_digest(stored.encode("utf-8"), given.encode("utf-8"))


def _pkce_error(params: dict[str, Any], code: Row) -> Row | None:
    verifier = params.get("code_verifier")
    if verifier is None:
        return {
            "error": "invalid_request",
            "error_description": "code_verifier is required for PKCE authorization requests",
        }
    if not isinstance(verifier, str):
        return {"error": "invalid_request", "error_description": "code_verifier is not a string"}
    if not 43 <= len(verifier) <= 128:
        return {
            "error": "invalid_request",
            "error_description": "code_verifier must be between 43 and 128 characters",
        }
    stored = code.get("challenge")
    if not stored or not hmac.compare_digest(pkce_challenge(verifier), stored):
        return {"error": "invalid_grant", "error_description": "Invalid code"}
    return None


async def issue_token(
    store: Store, conf: dict[str, Any], req: OAuthRequest, reactor: Any = None
) -> Answer:
    """``POST /oauth2/token``: every grant type, as Kong."""
    params = req.params
    state = params.get("state")
    response: Row = {}
    status_if_error = 400
    www_authenticate: str | None = None
    if not req.https:
        response = {
            "error": "access_denied",
            "error_description": req.https_error or "You must use HTTPS",
        }
    else:
        grant_type = params.get("grant_type")
        if not (
            grant_type in ("authorization_code", "refresh_token")
            or (conf.get("enable_client_credentials") and grant_type == "client_credentials")
            or (conf.get("enable_password_grant") and grant_type == "password")
        ):
            response = {
                "error": "unsupported_grant_type",
                "error_description": "Invalid grant_type",
            }
        client_id, client_secret, from_header = client_credentials(params, req.authorization)
        client = await store.client(client_id) if client_id else None
        if grant_type != "client_credentials":
            allowed = client.get("redirect_uris") if client is not None else None
            if allowed is not None:
                wanted = params.get("redirect_uri") or (allowed[0] if allowed else None)
                if wanted not in allowed:
                    response = dict(BAD_REDIRECT_URI)
            else:
                response = dict(INVALID_CLIENT)
                if from_header:
                    status_if_error, www_authenticate = 401, 'Basic realm="OAuth2.0"'
        if client is not None:
            if client.get("client_type") == "confidential":
                if client.get("hash_secret"):
                    ok = await crypto.run_in_thread(reactor, _secret_ok, client, client_secret)
                else:
                    ok = _secret_ok(client, client_secret)
                if not ok:
                    response = dict(INVALID_CLIENT)
                    if from_header:
                        status_if_error, www_authenticate = 401, 'Basic realm="OAuth2.0"'
            elif client.get("client_type") == "public" and _strip(client_secret) != "":
                response = {
                    "error": "invalid_request",
                    "error_description": "client_secret is disallowed for public clients",
                }
        if "error" not in response and client is not None:
            response = await _grant(store, conf, req, grant_type, client, state)
        elif "error" not in response:
            response = dict(INVALID_CLIENT)
    if state is not None:
        response["state"] = state
    headers = list(NO_CACHE)
    if "error" in response:
        if www_authenticate is not None:
            headers.append(("WWW-Authenticate", www_authenticate))
        return status_if_error, response, headers
    return 200, response, headers


async def _grant(
    store: Store, conf: dict[str, Any], req: OAuthRequest, grant_type: Any, client: Row, state: Any
) -> Row:
    params = req.params
    service_id = None if conf.get("global_credentials") else req.service_id
    if grant_type == "authorization_code":
        code_value = _str(params.get("code"))
        code = await store.code(code_value) if code_value else None
        if code is None or (service_id and (code.get("service") or {}).get("id") != service_id):
            return dict(INVALID_CODE)
        if (code.get("credential") or {}).get("id") != client["id"]:
            return dict(INVALID_CODE)
        if requires_pkce(conf, client, code.get("challenge_method")):
            error = _pkce_error(params, code)
            if error is not None:
                return error
        body = await _token(
            store, conf, req, client, code.get("authenticated_userid"), code.get("scope"), state
        )
        await store.delete("oauth2_authorization_codes", code["id"])
        return body
    if grant_type == "client_credentials":
        if params.get("authenticated_userid") is not None and conf.get(
            "provision_key"
        ) != params.get("provision_key"):
            return dict(INVALID_PROVISION_KEY)
        scope, error = retrieve_scope(params, conf)
        if error is not None:
            return error
        return await _token(
            store,
            conf,
            req,
            client,
            params.get("authenticated_userid"),
            scope,
            state,
            disable_refresh=True,
        )
    if grant_type == "password":
        if conf.get("provision_key") != params.get("provision_key"):
            return dict(INVALID_PROVISION_KEY)
        if not _strip(params.get("authenticated_userid")):
            return dict(MISSING_USERID)
        scope, error = retrieve_scope(params, conf)
        if error is not None:
            return error
        return await _token(
            store, conf, req, client, params.get("authenticated_userid"), scope, state
        )
    # refresh_token
    refresh = _str(params.get("refresh_token"))
    token = await store.token_by_refresh(refresh) if refresh else None
    if token is None or (service_id and (token.get("service") or {}).get("id") != service_id):
        return {"error": "invalid_request", "error_description": "Invalid refresh_token"}
    if (token.get("credential") or {}).get("id") != client["id"]:
        return dict(INVALID_CLIENT)
    if not conf.get("reuse_refresh_token"):
        # Deleted first: a persistent refresh token moves to the new row.
        await store.delete("oauth2_tokens", token["id"])
    return await _token(
        store,
        conf,
        req,
        client,
        token.get("authenticated_userid"),
        token.get("scope"),
        state,
        existing=token,
    )
