"""``proxy-cache`` config (Kong's ``kong/plugins/proxy-cache/schema.lua``, 3.x)."""

from __future__ import annotations

from kongtx.schema import typedefs
from kongtx.schema.fields import Array, Boolean, Integer, Record, String

CONFIG = Record(
    {
        "response_code": Array(
            Integer(between=(100, 900)), required=True, default=[200, 301, 404], len_min=1
        ),
        "request_method": Array(
            String(one_of=("HEAD", "GET", "POST", "PATCH", "PUT")),
            required=True,
            default=["GET", "HEAD"],
        ),
        "content_type": Array(String(), required=True, default=["text/plain", "application/json"]),
        "cache_ttl": Integer(default=300, gt=0),
        "strategy": String(required=True, one_of=("memory",)),
        "cache_control": Boolean(required=True, default=False),
        "ignore_uri_case": Boolean(default=False),
        "storage_ttl": Integer(),
        "memory": Record(
            {"dictionary_name": String(required=True, default="kong_db_cache")}, required=True
        ),
        "vary_query_params": Array(String()),
        "vary_headers": Array(typedefs.header_name),
        "response_headers": Record(
            {
                "age": Boolean(required=True, default=True),
                "X-Cache-Status": Boolean(required=True, default=True),
                "X-Cache-Key": Boolean(required=True, default=True),
            },
            required=True,
        ),
    }
)

OPTIONS = {"protocols": ["grpc", "grpcs", "http", "https"]}
