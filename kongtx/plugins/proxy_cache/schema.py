"""``proxy-cache`` config (Kong's ``kong/plugins/proxy-cache/schema.lua``, 3.x)."""

from __future__ import annotations

from kongtx.schema import typedefs
from kongtx.schema.fields import Array, Boolean, Integer, Record, String

CONFIG = Record(
    {
        "response_code": Array(
            Integer(between=(100, 900)),
            required=True,
            default=[200, 301, 404],
            len_min=1,
            description="Upstream statuses whose responses are cached.",
        ),
        "request_method": Array(
            String(one_of=("HEAD", "GET", "POST", "PATCH", "PUT")),
            required=True,
            default=["GET", "HEAD"],
            description="Request methods whose responses are cached.",
        ),
        "content_type": Array(
            String(),
            required=True,
            default=["text/plain", "application/json"],
            description="Response Content-Types cached.",
        ),
        "cache_ttl": Integer(default=300, gt=0, description="Seconds a cached response is served."),
        "strategy": String(
            required=True, one_of=("memory",), description="Where responses are cached (memory)."
        ),
        "cache_control": Boolean(
            required=True,
            default=False,
            description="Follow the Cache-Control headers of requests and responses.",
        ),
        "ignore_uri_case": Boolean(
            default=False, description="Treat paths differing only by case as one cache entry."
        ),
        "storage_ttl": Integer(
            description="Seconds a response is kept in the cache (may exceed cache_ttl, for Refresh)."
        ),
        "memory": Record(
            {
                "dictionary_name": String(
                    required=True,
                    default="kong_db_cache",
                    description="Name of the shared memory dictionary (accepted for compatibility).",
                )
            },
            required=True,
            description="Settings of the memory strategy.",
        ),
        "vary_query_params": Array(
            String(), description="Query arguments that vary the cache key (unset: all)."
        ),
        "vary_headers": Array(typedefs.header_name, description="Headers that vary the cache key."),
        "response_headers": Record(
            {
                "age": Boolean(required=True, default=True, description="Send the Age header."),
                "X-Cache-Status": Boolean(
                    required=True, default=True, description="Send the X-Cache-Status header."
                ),
                "X-Cache-Key": Boolean(
                    required=True, default=True, description="Send the X-Cache-Key header."
                ),
            },
            required=True,
            description="Which cache headers are sent to the client.",
        ),
    }
)

OPTIONS = {"protocols": ["grpc", "grpcs", "http", "https"]}
