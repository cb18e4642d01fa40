"""``keyauth_credentials`` (``/key-auths``, ``/consumers/{c}/key-auth``)."""

from __future__ import annotations

from kongtx.schema import typedefs
from kongtx.schema.entity import Entity
from kongtx.schema.fields import String

KEYAUTH_CREDENTIALS = Entity(
    "keyauth_credentials",
    {
        "consumer": typedefs.credential_consumer,
        # Kong: auto-generated (32 random alphanumeric characters) when omitted.
        "key": String(required=False, unique=True, auto=True),
    },
    endpoint_key="key",
    admin_path="/key-auths",
    admin_nested_name="key-auth",
    ttl=True,
)

ENTITIES = (KEYAUTH_CREDENTIALS,)
