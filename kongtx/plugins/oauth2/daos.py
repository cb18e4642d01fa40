"""``oauth2_credentials`` (``/oauth2``, ``/consumers/{c}/oauth2``), ``oauth2_tokens``
(``/oauth2_tokens``) and ``oauth2_authorization_codes`` (no Admin API), as Kong's
``kong/plugins/oauth2/daos.lua``.

Tokens and codes carry a ``ttl``: expired rows are hidden from every read and
purged by the next insert. With ``hash_secret`` the client secret is stored
bcrypt-hashed (the Admin API then only ever shows the hash).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from kongtx.plugins.basic_auth import crypto
from kongtx.schema import typedefs
from kongtx.schema.entity import Entity
from kongtx.schema.fields import Array, Boolean, Foreign, Integer, String


def _valid_redirect_uri(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return f"cannot parse '{value}'"
    if not parts.netloc or not parts.hostname:
        return f"cannot parse '{value}'"
    if parts.fragment or value.endswith("#"):
        return f"fragment not allowed in '{value}'"
    return None


async def hash_client_secret(row: dict[str, Any], dao: Any) -> dict[str, Any]:
    """``hash_secret``: replace a plain ``client_secret`` by its bcrypt hash."""
    secret = row.get("client_secret")
    if not row.get("hash_secret") or not isinstance(secret, str) or crypto.is_hashed(secret):
        return row
    hashed = await crypto.run_in_thread(
        getattr(dao, "clock", None), crypto.hash_password, secret.encode("utf-8")
    )
    return {**row, "client_secret": hashed}


OAUTH2_CREDENTIALS = Entity(
    "oauth2_credentials",
    {
        "consumer": typedefs.credential_consumer,
        "name": String(required=True),
        "client_id": String(required=True, unique=True, auto=True),
        "client_secret": String(auto=True),
        "hash_secret": Boolean(required=True, default=False),
        "redirect_uris": Array(String(validators=[_valid_redirect_uri])),
        "client_type": String(
            required=True, default="confidential", one_of=["confidential", "public"]
        ),
    },
    endpoint_key="client_id",
    admin_path="/oauth2",
    admin_nested_name="oauth2",
    transformations=[hash_client_secret],
)

OAUTH2_AUTHORIZATION_CODES = Entity(
    "oauth2_authorization_codes",
    {
        "service": Foreign("services", on_delete="cascade"),
        "credential": Foreign("oauth2_credentials", required=True, on_delete="cascade"),
        "code": String(required=True, unique=True, auto=True),
        "authenticated_userid": String(),
        "scope": String(),
        "challenge": String(),
        "challenge_method": String(one_of=["S256"]),
    },
    endpoint_key="code",
    ttl=True,
    tags=False,
)
OAUTH2_AUTHORIZATION_CODES.admin_path = ""  # Kong: no Admin API for codes

OAUTH2_TOKENS = Entity(
    "oauth2_tokens",
    {
        "service": Foreign("services", on_delete="cascade"),
        "credential": Foreign("oauth2_credentials", required=True, on_delete="cascade"),
        "token_type": String(required=True, default="bearer", one_of=["bearer"]),
        "expires_in": Integer(required=True),
        "access_token": String(required=True, unique=True, auto=True),
        "refresh_token": String(unique=True),
        "authenticated_userid": String(),
        "scope": String(),
    },
    endpoint_key="access_token",
    admin_path="/oauth2_tokens",
    ttl=True,
)

ENTITIES = (OAUTH2_CREDENTIALS, OAUTH2_AUTHORIZATION_CODES, OAUTH2_TOKENS)
