"""``jwt_secrets`` (``/jwts``, ``/consumers/{c}/jwt``; Kong's ``kong/plugins/jwt/daos.lua``).

``key`` and ``secret`` are generated when absent. Every algorithm but the
HMAC ones needs ``rsa_public_key``: a PEM key that cryptography can load.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
    load_pem_public_key,
)

from kongtx.schema import typedefs
from kongtx.schema.checks import Conditional
from kongtx.schema.entity import Entity
from kongtx.schema.fields import String

#: Kong 3.9's list, in its order.
ALGORITHMS = (
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "ES256",
    "ES384",
    "ES512",
    "PS256",
    "PS384",
    "PS512",
    "EdDSA",
)
KEY_ALGORITHMS = tuple(a for a in ALGORITHMS if not a.startswith("HS"))


def valid_pem_key(value: Any) -> str | None:
    """Kong's ``validate_ssl_key``: ``invalid key`` unless ``value`` is a PEM key."""
    if not isinstance(value, str):
        return None
    data = value.encode("utf-8")
    try:
        load_pem_public_key(data)
        return None
    except (ValueError, TypeError):
        pass
    try:
        load_pem_private_key(data, password=None)
        return None
    except (ValueError, TypeError):
        return "invalid key"


JWT_SECRETS = Entity(
    "jwt_secrets",
    {
        "consumer": typedefs.credential_consumer,
        "key": String(required=False, unique=True, auto=True),
        "secret": String(auto=True),
        "rsa_public_key": String(),
        "algorithm": String(default="HS256", one_of=ALGORITHMS),
    },
    endpoint_key="key",
    admin_path="/jwts",
    admin_nested_name="jwt",
    entity_checks=[
        Conditional(
            "algorithm",
            {"one_of": KEY_ALGORITHMS},
            "rsa_public_key",
            {"required": True, "validators": [valid_pem_key]},
        )
    ],
)

ENTITIES = (JWT_SECRETS,)
