"""statsd config (Kong 3.x ``kong/plugins/statsd/schema.lua``)."""

from __future__ import annotations

from typing import Any

from kongtx.logsinks.schema import CONSUMER_IDENTIFIERS, SAMPLE_RATE_CHECK, queue_record
from kongtx.logsinks.statsd_lines import TAG_STYLES
from kongtx.schema import Array, Boolean, Integer, Number, Record, String
from kongtx.schema.typedefs import host, port

__all__ = ["CONFIG", "DEFAULT_METRICS", "METRIC_NAMES"]

METRIC_NAMES = (
    "kong_latency",
    "latency",
    "request_count",
    "request_per_user",
    "request_size",
    "response_size",
    "status_count",
    "status_count_per_user",
    "unique_users",
    "upstream_latency",
    "status_count_per_workspace",
    "status_count_per_user_per_route",
    "shdict_usage",
)
STAT_TYPES = ("counter", "gauge", "histogram", "meter", "set", "timer")
SERVICE_IDENTIFIERS = ("service_id", "service_name", "service_host", "service_name_or_host")
WORKSPACE_IDENTIFIERS = ("workspace_id", "workspace_name")


def _metric(name: str, stat_type: str, sample_rate: float | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "stat_type": stat_type,
        "sample_rate": sample_rate,
        "consumer_identifier": None,
        "service_identifier": None,
        "workspace_identifier": None,
    }


DEFAULT_METRICS = [
    _metric("request_count", "counter", 1),
    _metric("latency", "timer"),
    _metric("request_size", "counter", 1),
    _metric("status_count", "counter", 1),
    _metric("response_size", "counter", 1),
    _metric("unique_users", "set"),
    _metric("request_per_user", "counter", 1),
    _metric("upstream_latency", "timer"),
    _metric("kong_latency", "timer"),
    _metric("status_count_per_user", "counter", 1),
    _metric("status_count_per_workspace", "counter", 1),
    _metric("status_count_per_user_per_route", "counter", 1),
    _metric("shdict_usage", "gauge", 1),
]

_METRIC = Record(
    [
        ("name", String(required=True, one_of=METRIC_NAMES, description="Metric sent.")),
        (
            "stat_type",
            String(required=True, one_of=STAT_TYPES, description="StatsD type of the metric."),
        ),
        ("sample_rate", Number(gt=0, description="Sampling rate of counters and gauges.")),
        (
            "consumer_identifier",
            String(
                one_of=CONSUMER_IDENTIFIERS, description="How the consumer is named in the metric."
            ),
        ),
        (
            "service_identifier",
            String(
                one_of=SERVICE_IDENTIFIERS, description="How the service is named in the metric."
            ),
        ),
        (
            "workspace_identifier",
            String(
                one_of=WORKSPACE_IDENTIFIERS,
                description="How the workspace is named in the metric.",
            ),
        ),
    ],
    entity_checks=[SAMPLE_RATE_CHECK],
)

CONFIG = Record(
    [
        ("host", host(default="localhost", description="Host of the StatsD server.")),
        ("port", port(default=8125, description="Port of the StatsD server.")),
        ("prefix", String(default="kong", description="Prefix of every metric name.")),
        ("metrics", Array(_METRIC, default=DEFAULT_METRICS, description="Metrics sent and how.")),
        (
            "allow_status_codes",
            Array(
                String(match=r"^[0-9]+-[0-9]+$"),
                description="Status ranges (e.g. 200-299) whose requests are counted; unset for all.",
            ),
        ),
        (
            "udp_packet_size",
            Number(
                between=(0, 65507),
                default=0,
                description="Pack metrics into UDP packets of up to this many bytes (0: one per packet).",
            ),
        ),
        ("use_tcp", Boolean(default=False, description="Send over TCP instead of UDP.")),
        (
            "hostname_in_prefix",
            Boolean(default=False, description="Add the node's hostname to the prefix."),
        ),
        (
            "consumer_identifier_default",
            String(
                required=True,
                default="custom_id",
                one_of=CONSUMER_IDENTIFIERS,
                description="How consumers are named when a metric does not say.",
            ),
        ),
        (
            "service_identifier_default",
            String(
                required=True,
                default="service_name_or_host",
                one_of=SERVICE_IDENTIFIERS,
                description="How services are named when a metric does not say.",
            ),
        ),
        (
            "workspace_identifier_default",
            String(
                required=True,
                default="workspace_id",
                one_of=WORKSPACE_IDENTIFIERS,
                description="How workspaces are named when a metric does not say.",
            ),
        ),
        ("retry_count", Integer(description="Deprecated (use queue.max_retry_time).")),
        ("queue_size", Integer(description="Deprecated (use queue.max_batch_size).")),
        ("flush_timeout", Number(description="Deprecated (use queue.max_coalescing_delay).")),
        (
            "tag_style",
            String(
                one_of=TAG_STYLES,
                description="Tag syntax: dogstatsd, influxdb, librato or signalfx (unset: no tags).",
            ),
        ),
        ("queue", queue_record()),
    ],
    required=True,
)
