"""``hmacauth_credentials`` (``/hmac-auths``, ``/consumers/{c}/hmac-auth``); the secret is generated when absent."""

from __future__ import annotations

from kongtx.schema import typedefs
from kongtx.schema.entity import Entity
from kongtx.schema.fields import String

HMACAUTH_CREDENTIALS = Entity(
    "hmacauth_credentials",
    {
        "consumer": typedefs.credential_consumer,
        "username": String(required=True, unique=True),
        "secret": String(auto=True),
    },
    endpoint_key="username",
    admin_path="/hmac-auths",
    admin_nested_name="hmac-auth",
)

ENTITIES = (HMACAUTH_CREDENTIALS,)
