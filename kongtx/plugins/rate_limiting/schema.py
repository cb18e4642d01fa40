"""``rate-limiting`` config (Kong's ``kong/plugins/rate-limiting/schema.lua``, 3.x)."""

from __future__ import annotations

from typing import Any

from kongtx.ratelimit import config as shared
from kongtx.ratelimit.windows import PERIODS
from kongtx.schema import typedefs
from kongtx.schema.checks import AtLeastOneOf, Conditional
from kongtx.schema.fields import Boolean, Number, Record, String

LIMIT_BY = ("consumer", "credential", "ip", "service", "header", "path")


def _periods_in_order(config: dict[str, Any]) -> str | None:
    return shared.periods_in_order(config)


CONFIG = Record(
    {
        **shared.period_fields(),
        "limit_by": String(
            default="consumer",
            one_of=LIMIT_BY,
            description="What is counted: consumer, credential, ip, service, header or path.",
        ),
        "header_name": typedefs.header_name(
            description="Header identifying the client (limit_by header)."
        ),
        "path": typedefs.path(description="Path counted (limit_by path)."),
        **shared.policy_fields(len_min=0),
        "hide_client_headers": Boolean(
            required=True,
            default=False,
            description="Do not send the RateLimit and X-RateLimit headers.",
        ),
        "error_code": Number(default=429, gt=0, description="HTTP status of the refusal."),
        "error_message": String(
            default="API rate limit exceeded", description="Message of the refusal."
        ),
        # Kong batches counter writes when sync_rate >= 0; kongtx always counts in the
        # request (that is what makes the limits exact), so it is accepted and unused.
        "sync_rate": Number(
            required=True,
            default=-1,
            description="Accepted for compatibility; counters are always updated in the request.",
        ),
    },
    validators=[_periods_in_order],
)

OPTIONS = {
    "entity_checks": [
        AtLeastOneOf([f"config.{period}" for period in PERIODS]),
        *shared.redis_checks(),
        Conditional("config.limit_by", {"eq": "header"}, "config.header_name", {"required": True}),
        Conditional("config.limit_by", {"eq": "path"}, "config.path", {"required": True}),
    ],
    "shorthands": [shared.legacy_redis_shorthand],
}
