"""``response-ratelimiting`` config (Kong's ``kong/plugins/response-ratelimiting/schema.lua``)."""

from __future__ import annotations

from typing import Any

from kongtx.ratelimit import config as shared
from kongtx.ratelimit.windows import PERIODS
from kongtx.schema.checks import AtLeastOneOf
from kongtx.schema.fields import Boolean, Map, Record, String


def _periods_in_order(limit: dict[str, Any]) -> str | None:
    return shared.periods_in_order(limit, capital=False)


LIMIT = Record(
    shared.period_fields("units of this name"),
    required=True,
    entity_checks=[AtLeastOneOf(list(PERIODS))],
    validators=[_periods_in_order],
)

CONFIG = Record(
    {
        "header_name": String(
            default="x-kong-limit",
            description="Response header the upstream reports usage in (e.g. x-kong-limit: videos=1).",
        ),
        "limit_by": String(
            default="consumer",
            one_of=("consumer", "credential", "ip"),
            description="What is counted: consumer, credential or ip.",
        ),
        **shared.policy_fields(),
        "block_on_first_violation": Boolean(
            required=True,
            default=False,
            description="Refuse a request as soon as any limit is reached.",
        ),
        "hide_client_headers": Boolean(
            required=True, default=False, description="Do not send the X-RateLimit headers."
        ),
        "limits": Map(
            String(),
            LIMIT,
            required=True,
            len_min=1,
            description="Limits per usage name: name -> {second, minute, hour, day, month, year}.",
        ),
    }
)

OPTIONS = {
    "entity_checks": shared.redis_checks(),
    "shorthands": [shared.legacy_redis_shorthand],
}
