"""``basic-auth`` config (Kong's ``kong/plugins/basic-auth/schema.lua``)."""

from __future__ import annotations

from kongtx.schema import typedefs
from kongtx.schema.fields import Record

CONFIG = Record(
    {
        "anonymous": typedefs.anonymous,
        "hide_credentials": typedefs.hide_credentials,
        "realm": typedefs.realm(required=True, default="service"),
    }
)

OPTIONS = {"no_consumer": True}
