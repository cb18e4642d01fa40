"""statsd config (Kong 3.x ``kong/plugins/statsd/schema.lua``)."""

from __future__ import annotations

from typing import Any

from kongtx.logsinks.schema import queue_record
from kongtx.logsinks.statsd_lines import TAG_STYLES
from kongtx.schema import Array, Boolean, Conditional, Integer, Number, Record, String
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
CONSUMER_IDENTIFIERS = ("consumer_id", "custom_id", "username")
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
        ("name", String(required=True, one_of=METRIC_NAMES)),
        ("stat_type", String(required=True, one_of=STAT_TYPES)),
        ("sample_rate", Number(gt=0)),
        ("consumer_identifier", String(one_of=CONSUMER_IDENTIFIERS)),
        ("service_identifier", String(one_of=SERVICE_IDENTIFIERS)),
        ("workspace_identifier", String(one_of=WORKSPACE_IDENTIFIERS)),
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
        ("metrics", Array(_METRIC, default=DEFAULT_METRICS)),
        ("allow_status_codes", Array(String(match=r"^[0-9]+-[0-9]+$"))),
        ("udp_packet_size", Number(between=(0, 65507), default=0)),
        ("use_tcp", Boolean(default=False)),
        ("hostname_in_prefix", Boolean(default=False)),
        (
            "consumer_identifier_default",
            String(required=True, default="custom_id", one_of=CONSUMER_IDENTIFIERS),
        ),
        (
            "service_identifier_default",
            String(required=True, default="service_name_or_host", one_of=SERVICE_IDENTIFIERS),
        ),
        (
            "workspace_identifier_default",
            String(required=True, default="workspace_id", one_of=WORKSPACE_IDENTIFIERS),
        ),
        ("retry_count", Integer()),
        ("queue_size", Integer()),
        ("flush_timeout", Number()),
        ("tag_style", String(one_of=TAG_STYLES)),
        ("queue", queue_record()),
    ],
    required=True,
)
