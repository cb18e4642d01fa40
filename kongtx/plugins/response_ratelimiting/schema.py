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
    shared.period_fields(),
    required=True,
    entity_checks=[AtLeastOneOf(list(PERIODS))],
    validators=[_periods_in_order],
)

CONFIG = Record(
    {
        "header_name": String(default="x-kong-limit"),
        "limit_by": String(default="consumer", one_of=("consumer", "credential", "ip")),
        "policy": String(default="local", one_of=("local", "cluster", "redis")),
        "fault_tolerant": Boolean(required=True, default=True),
        "redis": shared.REDIS,
        "block_on_first_violation": Boolean(required=True, default=False),
        "hide_client_headers": Boolean(required=True, default=False),
        "limits": Map(String(), LIMIT, required=True, len_min=1),
    }
)

OPTIONS = {
    "entity_checks": shared.redis_checks(),
    "shorthands": [shared.legacy_redis_shorthand],
}
