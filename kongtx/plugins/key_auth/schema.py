"""``key-auth`` config (Kong's ``kong/plugins/key-auth/schema.lua``)."""

from __future__ import annotations

from kongtx.schema import typedefs
from kongtx.schema.fields import Array, Boolean, Record, String

CONFIG = Record(
    {
        "key_names": Array(typedefs.header_name, required=True, default=["apikey"]),
        "hide_credentials": Boolean(required=True, default=False),
        "anonymous": String(),
        "key_in_header": Boolean(required=True, default=True),
        "key_in_query": Boolean(required=True, default=True),
        "key_in_body": Boolean(required=True, default=False),
        "run_on_preflight": Boolean(required=True, default=True),
        "realm": String(),
    }
)

OPTIONS = {"no_consumer": True}
