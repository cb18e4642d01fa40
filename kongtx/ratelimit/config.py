"""Config pieces rate-limiting and response-ratelimiting share (Kong's schemas).

The ``redis`` record (Kong's ``kong/tools/redis/schema.lua``), the legacy flat
``redis_*`` fields Kong still accepts (mapped into ``redis.*`` on input, as its
shorthand fields), and the check that a longer period's limit is not lower
than a shorter one's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kongtx.ratelimit.windows import PERIODS
from kongtx.schema import typedefs
from kongtx.schema.checks import Conditional
from kongtx.schema.fields import Boolean, Integer, Number, Record, String

__all__ = [
    "LEGACY_REDIS_FIELDS",
    "REDIS",
    "legacy_redis_shorthand",
    "period_fields",
    "policy_fields",
    "periods_in_order",
    "redis_checks",
]

REDIS = Record(
    {
        "host": typedefs.host(description="Host of the Redis server (policy redis)."),
        "port": typedefs.port.derive(default=6379, description="Port of the Redis server."),
        "timeout": typedefs.timeout.derive(
            default=2000, description="Milliseconds to wait for Redis (connect, send and read)."
        ),
        "connect_timeout": typedefs.timeout(
            description="Milliseconds to wait when connecting to Redis."
        ),
        "send_timeout": typedefs.timeout(description="Milliseconds to wait when sending to Redis."),
        "read_timeout": typedefs.timeout(description="Milliseconds to wait for Redis' answer."),
        "username": String(description="Redis ACL username."),
        "password": String(len_min=0, description="Redis password."),
        "database": Integer(default=0, description="Redis database number."),
        "ssl": Boolean(required=True, default=False, description="Connect to Redis with TLS."),
        "ssl_verify": Boolean(
            required=True, default=False, description="Verify Redis' certificate."
        ),
        "server_name": typedefs.sni(
            description="Server name sent in the TLS handshake with Redis."
        ),
    },
    required=True,
)

#: Kong's deprecated flat fields and the ``redis`` field each one sets.
LEGACY_REDIS_FIELDS = {
    "redis_host": "host",
    "redis_port": "port",
    "redis_password": "password",
    "redis_username": "username",
    "redis_ssl": "ssl",
    "redis_ssl_verify": "ssl_verify",
    "redis_server_name": "server_name",
    "redis_timeout": "timeout",
    "redis_database": "database",
}


def legacy_redis_shorthand(data: dict[str, Any], op: str) -> dict[str, Any]:
    """Move ``config.redis_*`` into ``config.redis.*`` (a plugin-row shorthand)."""
    config = data.get("config")
    if not isinstance(config, dict) or not any(k in config for k in LEGACY_REDIS_FIELDS):
        return data
    config = dict(config)
    redis = config.get("redis")
    redis = dict(redis) if isinstance(redis, dict) else {}
    for legacy, field in LEGACY_REDIS_FIELDS.items():
        if legacy in config:
            value = config.pop(legacy)
            if value is not None:
                redis[field] = value
    config["redis"] = redis
    return {**data, "config": config}


def redis_checks(prefix: str = "config") -> list[Conditional]:
    """``policy = redis`` requires ``redis.host``, ``redis.port`` and ``redis.timeout``."""
    return [
        Conditional(
            f"{prefix}.policy", {"eq": "redis"}, f"{prefix}.redis.{field}", {"required": True}
        )
        for field in ("host", "port", "timeout")
    ]


def policy_fields(**policy_options: Any) -> dict[str, Any]:
    """``policy``, ``fault_tolerant`` and ``redis``, as both counting plugins declare them."""
    return {
        "policy": String(
            default="local",
            one_of=("local", "cluster", "redis"),
            description="Where counters live: local (this node), cluster (the database) or redis.",
            **policy_options,
        ),
        "fault_tolerant": Boolean(
            required=True,
            default=True,
            description="Proxy requests when the counters cannot be reached.",
        ),
        "redis": REDIS(description="Redis connection (policy redis)."),
    }


def period_fields(counted: str = "HTTP requests") -> dict[str, Number]:
    """``second`` ... ``year``: optional numbers above 0 (``counted`` names what they limit)."""
    return {
        period: Number(gt=0, description=f"Most {counted} allowed per {period}.")
        for period in PERIODS
    }


def periods_in_order(limits: Mapping[str, Any], capital: bool = True) -> str | None:
    """Kong's message when a longer period's limit is lower than a shorter one's."""
    for i, lower in enumerate(PERIODS):
        low = limits.get(lower)
        if not isinstance(low, (int, float)):
            continue
        for upper in PERIODS[i + 1 :]:
            high = limits.get(upper)
            if isinstance(high, (int, float)) and high < low:
                the = "The" if capital else "the"
                return (
                    f"{the} limit for {upper}({float(high):.1f}) cannot be lower than "
                    f"the limit for {lower}({float(low):.1f})"
                )
    return None
