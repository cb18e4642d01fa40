"""``upstreams`` (Kong's ``upstreams.lua``) with the health-check defaults."""

from __future__ import annotations

import re
from typing import Any

from kongtx.schema import typedefs
from kongtx.schema.checks import Conditional, Distinct
from kongtx.schema.entity import Entity
from kongtx.schema.fields import (
    Array,
    Boolean,
    Field,
    Foreign,
    Integer,
    Map,
    Number,
    Record,
    String,
    fill_record,
)

HASH_ON = [
    "none",
    "consumer",
    "ip",
    "header",
    "cookie",
    "path",
    "query_arg",
    "uri_capture",
]
ALGORITHMS = ["consistent-hashing", "least-connections", "round-robin", "latency"]
_COOKIE_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")


def _validate_name(name: str) -> str | None:
    try:
        kind, _, port = typedefs.parse_host(name)
    except ValueError:
        return "Invalid name ('%s'); must be a valid hostname" % name
    if kind != "name":
        return "Invalid name ('%s'); no ip addresses allowed" % name
    if port is not None:
        return "Invalid name ('%s'); no port allowed" % name
    return None


def _validate_cookie_name(name: str) -> str | None:
    return None if _COOKIE_RE.match(name) else "contains one or more invalid characters"


def _record(fields: dict[str, Field]) -> Record:
    """A record defaulting to its sub-fields' defaults (Kong lists them all)."""
    return Record(fields, default=fill_record(fields, {}))


def _healthchecks() -> Record:
    seconds = Number(between=(0, 65535))
    counter = Integer(between=(0, 255))
    statuses = Integer(between=(100, 999))
    check_type = String(default="http", one_of=["tcp", "http", "https", "grpc", "grpcs"])

    def status_list(default: list[int]) -> Array:
        return Array(statuses, default=default)

    active = _record(
        {
            "type": check_type,
            "timeout": seconds(default=1),
            "concurrency": Integer(default=10, between=(1, 2**31 - 1)),
            "http_path": typedefs.path(default="/"),
            "https_sni": typedefs.sni(),
            "https_verify_certificate": Boolean(default=True),
            "headers": Map(keys=typedefs.header_name, values=Array(String())),
            "healthy": _record(
                {
                    "interval": seconds(default=0),
                    "http_statuses": status_list([200, 302]),
                    "successes": counter(default=0),
                }
            ),
            "unhealthy": _record(
                {
                    "interval": seconds(default=0),
                    "http_statuses": status_list([429, 404, 500, 501, 502, 503, 504, 505]),
                    "tcp_failures": counter(default=0),
                    "timeouts": counter(default=0),
                    "http_failures": counter(default=0),
                }
            ),
        }
    )
    passive = _record(
        {
            "type": check_type,
            "healthy": _record(
                {
                    "http_statuses": status_list(
                        [
                            200,
                            201,
                            202,
                            203,
                            204,
                            205,
                            206,
                            207,
                            208,
                            226,
                            300,
                            301,
                            302,
                            303,
                            304,
                            305,
                            306,
                            307,
                            308,
                        ]
                    ),
                    "successes": counter(default=0),
                }
            ),
            "unhealthy": _record(
                {
                    "http_statuses": status_list([429, 500, 503]),
                    "tcp_failures": counter(default=0),
                    "timeouts": counter(default=0),
                    "http_failures": counter(default=0),
                }
            ),
        }
    )
    return _record(
        {
            "active": active,
            "passive": passive,
            "threshold": Number(default=0, between=(0, 100)),
        }
    )


def _hash_algorithm(data: dict[str, Any], op: str) -> dict[str, Any]:
    """Hashing implies ``consistent-hashing`` when no algorithm was given."""
    hash_on = data.get("hash_on")
    if hash_on not in (None, "none") and data.get("algorithm") is None and op != "update":
        return {**data, "algorithm": "consistent-hashing"}
    return data


def _cond(if_field: str, value: str, then_field: str, then_match: dict[str, Any]) -> Conditional:
    return Conditional(if_field, {"match": "^%s$" % value}, then_field, then_match)


def _fallback_not(value: str) -> Conditional:
    return _cond(
        "hash_on",
        value,
        "hash_fallback",
        {"one_of": [h for h in HASH_ON if h != value]},
    )


def build() -> Entity:
    """A new ``upstreams`` entity."""
    required = {"required": True}
    return Entity(
        "upstreams",
        {
            "name": String(required=True, unique=True, validators=[_validate_name]),
            "algorithm": String(default="round-robin", one_of=ALGORITHMS),
            "hash_on": String(default="none", one_of=HASH_ON),
            "hash_fallback": String(default="none", one_of=HASH_ON),
            "hash_on_header": typedefs.header_name(),
            "hash_fallback_header": typedefs.header_name(),
            "hash_on_cookie": String(validators=[_validate_cookie_name]),
            "hash_on_cookie_path": typedefs.path(default="/"),
            "hash_on_query_arg": String(),
            "hash_fallback_query_arg": String(),
            "hash_on_uri_capture": String(),
            "hash_fallback_uri_capture": String(),
            "slots": Integer(default=10000, between=(10, 2**16)),
            "healthchecks": _healthchecks(),
            "tags": typedefs.tags(),
            "host_header": typedefs.host_with_optional_port(),
            "client_certificate": Foreign("certificates"),
            "use_srv_name": Boolean(default=False),
        },
        updated_at=True,
        endpoint_key="name",
        shorthands=[_hash_algorithm],
        entity_checks=[
            _cond("hash_on", "header", "hash_on_header", required),
            _cond("hash_fallback", "header", "hash_fallback_header", required),
            _cond("hash_on", "cookie", "hash_on_cookie", required),
            _cond("hash_fallback", "cookie", "hash_on_cookie", required),
            _cond("hash_on", "none", "hash_fallback", {"one_of": ["none"]}),
            _cond("hash_on", "cookie", "hash_fallback", {"one_of": ["none"]}),
            _fallback_not("consumer"),
            _fallback_not("ip"),
            _fallback_not("path"),
            _cond("hash_on", "query_arg", "hash_on_query_arg", required),
            _cond("hash_fallback", "query_arg", "hash_fallback_query_arg", required),
            _cond("hash_on", "uri_capture", "hash_on_uri_capture", required),
            _cond("hash_fallback", "uri_capture", "hash_fallback_uri_capture", required),
            Distinct(["hash_on_header", "hash_fallback_header"]),
            Distinct(["hash_on_query_arg", "hash_fallback_query_arg"]),
            Distinct(["hash_on_uri_capture", "hash_fallback_uri_capture"]),
        ],
    )
