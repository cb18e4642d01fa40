"""``basic-auth`` config (Kong's ``kong/plugins/basic-auth/schema.lua``)."""

from __future__ import annotations

from kongtx.schema.fields import Boolean, Record, String

CONFIG = Record(
    {
        "anonymous": String(),
        "hide_credentials": Boolean(required=True, default=False),
        "realm": String(required=True, default="service"),
    }
)

OPTIONS = {"no_consumer": True}
