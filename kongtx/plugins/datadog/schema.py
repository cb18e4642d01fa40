"""datadog config (Kong 3.x ``kong/plugins/datadog/schema.lua``)."""

from __future__ import annotations

from typing import Any

from kongtx.logsinks.schema import CONSUMER_IDENTIFIERS, SAMPLE_RATE_CHECK, queue_record
from kongtx.logsinks.statsd_lines import STAT_TYPES
from kongtx.schema import Array, Integer, Number, Record, String
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
        ("name", String(required=True, one_of=METRIC_NAMES, description="Metric sent.")),
        (
            "stat_type",
            String(
                required=True, one_of=tuple(STAT_TYPES), description="StatsD type of the metric."
            ),
        ),
        ("tags", Array(String(match=r"^.*[^:]$"), description="Tags added to the metric.")),
        (
            "sample_rate",
            Number(between=(0, 1), description="Sampling rate of counters and gauges."),
        ),
        (
            "consumer_identifier",
            String(
                one_of=CONSUMER_IDENTIFIERS, description="How the consumer is named in the metric."
            ),
        ),
    ],
    entity_checks=[SAMPLE_RATE_CHECK],
)

CONFIG = Record(
    [
        ("host", host(default="localhost", description="Host of the Datadog agent (DogStatsD).")),
        ("port", port(default=8125, description="Port of the Datadog agent.")),
        ("prefix", String(default="kong", description="Prefix of every metric name.")),
        ("service_name_tag", String(default="name", description="Tag carrying the service name.")),
        ("status_tag", String(default="status", description="Tag carrying the response status.")),
        ("consumer_tag", String(default="consumer", description="Tag carrying the consumer.")),
        ("retry_count", Integer(description="Deprecated (use queue.max_retry_time).")),
        ("queue_size", Integer(description="Deprecated (use queue.max_batch_size).")),
        ("flush_timeout", Number(description="Deprecated (use queue.max_coalescing_delay).")),
        ("queue", queue_record()),
        (
            "metrics",
            Array(
                _METRIC, required=True, default=DEFAULT_METRICS, description="Metrics sent and how."
            ),
        ),
    ],
    required=True,
)
