"""datadog config (Kong 3.x ``kong/plugins/datadog/schema.lua``)."""

from __future__ import annotations

from typing import Any

from kongtx.logsinks.schema import queue_record
from kongtx.logsinks.statsd_lines import STAT_TYPES
from kongtx.schema import Array, Conditional, Integer, Number, Record, String
from kongtx.schema.typedefs import host, port

__all__ = ["CONFIG", "DEFAULT_METRICS"]

METRIC_NAMES = (
    "kong_latency",
    "latency",
    "request_count",
    "request_size",
    "response_size",
    "upstream_latency",
)
CONSUMER_IDENTIFIERS = ("consumer_id", "custom_id", "username")


def _metric(name: str, stat_type: str, sample_rate: float | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "stat_type": stat_type,
        "sample_rate": sample_rate,
        "consumer_identifier": "custom_id",
        "tags": ["app:kong"],
    }


DEFAULT_METRICS = [
    _metric("request_count", "counter", 1),
    _metric("latency", "timer"),
    _metric("request_size", "timer"),
    _metric("response_size", "timer"),
    _metric("upstream_latency", "timer"),
    _metric("kong_latency", "timer"),
]

_METRIC = Record(
    [
        ("name", String(required=True, one_of=METRIC_NAMES)),
        ("stat_type", String(required=True, one_of=tuple(STAT_TYPES))),
        ("tags", Array(String(match=r"^.*[^:]$"))),
        ("sample_rate", Number(between=(0, 1))),
        ("consumer_identifier", String(one_of=CONSUMER_IDENTIFIERS)),
    ],
    entity_checks=[
        Conditional(
            "stat_type", {"one_of": ["counter", "gauge"]}, "sample_rate", {"required": True}
        )
    ],
)

CONFIG = Record(
    [
        ("host", host(default="localhost")),
        ("port", port(default=8125)),
        ("prefix", String(default="kong")),
        ("service_name_tag", String(default="name")),
        ("status_tag", String(default="status")),
        ("consumer_tag", String(default="consumer")),
        ("retry_count", Integer()),
        ("queue_size", Integer()),
        ("flush_timeout", Number()),
        ("queue", queue_record()),
        ("metrics", Array(_METRIC, required=True, default=DEFAULT_METRICS)),
    ],
    required=True,
)
