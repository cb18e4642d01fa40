"""``basic-auth`` config (Kong's ``kong/plugins/basic-auth/schema.lua``)."""

from __future__ import annotations

from kongtx.schema import typedefs
from kongtx.schema.fields import Boolean, Record, String

CONFIG = Record(
    {
        "anonymous": typedefs.anonymous,
        "hide_credentials": Boolean(
            required=True,
            default=False,
            description="Remove the Authorization header before proxying.",
        ),
        "realm": String(
            required=True,
            default="service",
            description="Realm of the WWW-Authenticate challenge sent with a 401.",
        ),
    }
)

OPTIONS = {"no_consumer": True}
