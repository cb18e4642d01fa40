"""``key-auth`` config (Kong's ``kong/plugins/key-auth/schema.lua``)."""

from __future__ import annotations

from kongtx.schema import typedefs
from kongtx.schema.fields import Array, Boolean, Record

CONFIG = Record(
    {
        "key_names": Array(
            typedefs.header_name,
            required=True,
            default=["apikey"],
            description="Names of the header, query argument or body field holding the key.",
        ),
        "hide_credentials": typedefs.hide_credentials(
            description="Remove the key from the request before proxying."
        ),
        "anonymous": typedefs.anonymous,
        "key_in_header": Boolean(
            required=True, default=True, description="Look for the key in request headers."
        ),
        "key_in_query": Boolean(
            required=True, default=True, description="Look for the key in the query string."
        ),
        "key_in_body": Boolean(
            required=True,
            default=False,
            description="Look for the key in a form, multipart or JSON request body.",
        ),
        "run_on_preflight": typedefs.run_on_preflight,
        "realm": typedefs.realm,
    }
)

OPTIONS = {"no_consumer": True}
