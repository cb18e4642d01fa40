"""``oauth2`` config (Kong's ``kong/plugins/oauth2/schema.lua``)."""

from __future__ import annotations

from typing import Any

from kongtx.schema import typedefs
from kongtx.schema.checks import Conditional
from kongtx.schema.fields import Array, Boolean, Number, Record, String

FLOWS = (
    "enable_authorization_code",
    "enable_implicit_grant",
    "enable_client_credentials",
    "enable_password_grant",
)


def _one_flow(config: Any) -> str | None:
    if not isinstance(config, dict) or any(config.get(f) for f in FLOWS):
        return None
    return "at least one of these fields must be true: " + ", ".join(FLOWS)


CONFIG = Record(
    {
        "scopes": Array(String(), description="Scope names clients may ask for."),
        "mandatory_scope": Boolean(
            required=True,
            default=False,
            description="Refuse authorizations and tokens asked without a scope.",
        ),
        "provision_key": String(
            required=True,
            auto=True,
            description="Secret the resource owner's application sends to /oauth2/authorize and with the password grant; generated when absent.",
        ),
        "token_expiration": Number(
            required=True,
            default=7200,
            description="Access token lifetime in seconds; 0 for tokens that never expire (and no refresh tokens).",
        ),
        "enable_authorization_code": Boolean(
            required=True, default=False, description="Enable the authorization code grant."
        ),
        "enable_implicit_grant": Boolean(
            required=True, default=False, description="Enable the implicit grant."
        ),
        "enable_client_credentials": Boolean(
            required=True, default=False, description="Enable the client credentials grant."
        ),
        "enable_password_grant": Boolean(
            required=True, default=False, description="Enable the resource owner password grant."
        ),
        "hide_credentials": typedefs.hide_credentials(
            description="Remove the access token from the request sent upstream."
        ),
        "accept_http_if_already_terminated": Boolean(
            required=True,
            default=False,
            description="Accept plain HTTP on the endpoints when a trusted proxy says X-Forwarded-Proto: https.",
        ),
        "anonymous": typedefs.anonymous,
        "global_credentials": Boolean(
            required=True,
            default=False,
            description="Tokens are valid on every service whose oauth2 plugin also sets this.",
        ),
        "auth_header_name": String(
            default="authorization", description="Header carrying the access token."
        ),
        "refresh_token_ttl": Number(
            required=True,
            default=1209600,
            between=(0, 100000000),
            description="Seconds a token row (and its refresh token) is kept; 0 keeps it forever.",
        ),
        "reuse_refresh_token": Boolean(
            required=True,
            default=False,
            description="A refresh keeps the token row and its refresh token, with a new access token.",
        ),
        "persistent_refresh_token": Boolean(
            required=True,
            default=False,
            description="A refresh issues a new token row carrying the same refresh token.",
        ),
        "pkce": String(
            default="lax",
            one_of=["none", "lax", "strict"],
            description="PKCE: none, lax (required for public clients) or strict (required for every client).",
        ),
        "realm": typedefs.realm,
    },
    entity_checks=[
        Conditional("mandatory_scope", {"eq": True}, "scopes", {"required": True}),
    ],
    validators=[_one_flow],
)

OPTIONS = {"no_consumer": True}
