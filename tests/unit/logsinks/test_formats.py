"""Pure formats of the metric and syslog plugins: StatsD tag styles, packet packing, syslog
and loggly lines, severities, statsd's metric selection."""

from __future__ import annotations

import time
from typing import Any

from kongtx.logsinks.serializer import DEFAULT_WORKSPACE_ID
from kongtx.logsinks.severity import severity_for, should_send
from kongtx.logsinks.statsd_lines import pack, statsd_line
from kongtx.logsinks.syslog import syslog_message
from kongtx.plugins.datadog.handler import datadog_lines
from kongtx.plugins.datadog.schema import CONFIG as DATADOG
from kongtx.plugins.loggly.handler import loggly_line
from kongtx.plugins.statsd.metrics import allowed_status, metric_lines, prefix_of
from kongtx.plugins.statsd.schema import CONFIG as STATSD
from kongtx.schema.fields import fill_record

TAGS = [("service", "s1"), ("status", 200)]


def test_statsd_line_tag_styles() -> None:
    """Kong's four tag styles, the sample rate only when it is not 1, integral floats as ints."""
    assert statsd_line("kong", "a.b", 3.0, "ms") == "kong.a.b:3|ms"
    assert statsd_line("kong", "a", 1, "c", 0.5) == "kong.a:1|c|@0.5"
    assert (
        statsd_line("kong", "a", 1, "c", 1, TAGS, "dogstatsd")
        == "kong.a:1|c|#service:s1,status:200"
    )
    assert (
        statsd_line("kong", "a", 1, "c", 1, TAGS, "influxdb") == "kong.a,service=s1,status=200:1|c"
    )
    assert (
        statsd_line("kong", "a", 1, "c", 1, TAGS, "librato") == "kong.a#service=s1,status=200:1|c"
    )
    assert (
        statsd_line("kong", "a", 1, "c", 1, TAGS, "signalfx") == "kong.a[service=s1,status=200]:1|c"
    )
    assert statsd_line("kong", "a", 1, "c", 1, None, "dogstatsd") == "kong.a:1|c"


def test_pack_udp_packets() -> None:
    """Lines are joined with newlines into packets no larger than the size; 0 = one per packet;
    a line larger than the size travels alone."""
    lines = [b"aaaa", b"bbbb", b"cccc", b"d" * 12]
    assert pack(lines, 0) == lines
    assert pack(lines, 9) == [b"aaaa\nbbbb", b"cccc", b"d" * 12]
    assert pack(lines, 100) == [b"aaaa\nbbbb\ncccc\n" + b"d" * 12]


def test_syslog_and_loggly_lines() -> None:
    """RFC 3164 for syslog (PRI = facility*8+severity), Kong's RFC 5424-style loggly line."""
    when = time.mktime((2024, 3, 5, 7, 8, 9, 0, 0, -1))
    assert syslog_message(1, 6, when, "{}", pid=42) == b"<14>Mar  5 07:08:09 kong[42]: {}"
    assert syslog_message(16, 3, when, "x", hostname="h1") == b"<131>Mar  5 07:08:09 h1 kong: x"
    line = loggly_line("err", 1700000000, "h1", "KEY", ["kong", "prod"], b'{"a":1}')
    assert (
        line == b'<11>1 2023-11-14T22:13:20Z h1 kong - - [KEY@41058 tag="kong" tag="prod" ] {"a":1}'
    )


def test_severities() -> None:
    """5xx -> server_errors_severity, 4xx -> client_errors_severity, else successful; sent only
    when at least as important as log_level."""
    conf = {
        "successful_severity": "info",
        "client_errors_severity": "warning",
        "server_errors_severity": "crit",
    }
    assert [severity_for(s, conf) for s in (200, 301, 404, 503)] == [
        "info",
        "info",
        "warning",
        "crit",
    ]
    assert should_send("crit", "warning") and should_send("warning", "warning")
    assert not should_send("info", "warning") and not should_send("debug", "info")


def _entry(**extra: Any) -> dict[str, Any]:
    entry = {
        "request": {"size": 120},
        "response": {"status": 201, "size": 340},
        "latencies": {"request": 15, "proxy": 10, "kong": 5},
        "service": {"id": "sid", "name": "my.svc", "host": "up.test"},
        "route": {"id": "rid", "name": "r1"},
        "consumer": {"id": "c-1", "custom_id": "cust", "username": "bob"},
    }
    entry.update(extra)
    return entry


def test_statsd_default_metrics_exact() -> None:
    """Every default metric for an authenticated request, scoped service.<name> (dots -> _)."""
    conf = fill_record(STATSD.fields, {})
    s = "kong.service.my_svc"
    assert metric_lines(_entry(), conf, "host1") == [
        f"{s}.request.count:1|c",
        f"{s}.latency:15|ms",
        f"{s}.request.size:120|c",
        f"{s}.status.201:1|c",
        f"{s}.response.size:340|c",
        f"{s}.user.uniques:cust|s",
        f"{s}.user.cust.request.count:1|c",
        f"{s}.upstream_latency:10|ms",
        f"{s}.kong_latency:5|ms",
        f"{s}.user.cust.status.201:1|c",
        f"{s}.workspace.{DEFAULT_WORKSPACE_ID}.status.201:1|c",
        "kong.route.rid.user.cust.status.201:1|c",
    ]


def test_statsd_unmatched_identifiers_prefix_and_tags() -> None:
    """Unmatched requests use global.unmatched and skip the proxy latency (-1); identifiers and
    hostname_in_prefix change names; tag styles move scope into tags and skip per-user metrics."""
    conf = fill_record(
        STATSD.fields,
        {
            "metrics": [
                {"name": "request_count", "stat_type": "counter", "sample_rate": 1},
                {"name": "upstream_latency", "stat_type": "timer"},
            ]
        },
    )
    unmatched = _entry(
        service=None, route=None, consumer=None, latencies={"request": 1, "proxy": -1, "kong": 1}
    )
    del unmatched["service"], unmatched["route"], unmatched["consumer"]
    assert metric_lines(unmatched, conf, "h") == ["kong.global.unmatched.request.count:1|c"]
    conf = fill_record(
        STATSD.fields,
        {
            "hostname_in_prefix": True,
            "consumer_identifier_default": "username",
            "service_identifier_default": "service_host",
            "metrics": [{"name": "request_per_user", "stat_type": "counter", "sample_rate": 0.5}],
        },
    )
    assert prefix_of(conf, "h1") == "kong.node.h1"
    assert metric_lines(_entry(), conf, "h1") == [
        "kong.node.h1.service.up_test.user.bob.request.count:1|c|@0.5"
    ]
    conf = fill_record(
        STATSD.fields,
        {
            "tag_style": "dogstatsd",
            "hostname_in_prefix": True,
            "metrics": [
                {"name": "latency", "stat_type": "timer"},
                {"name": "status_count", "stat_type": "counter", "sample_rate": 1},
            ],
        },
    )
    assert metric_lines(_entry(), conf, "h1") == [
        f"kong.latency:15|ms|#service:my.svc,route:r1,workspace:{DEFAULT_WORKSPACE_ID},"
        "consumer:cust,node:h1,status:201"
    ]
    assert allowed_status(None, 500) and allowed_status(["200-299", "400-404"], 404)
    assert not allowed_status(["200-299"], 500)


def test_datadog_lines_exact() -> None:
    """Kong's DogStatsD lines: name/status/consumer tags, then the metric's own tags."""
    conf = fill_record(DATADOG.fields, {})
    consumer_tag = "consumer:cust,app:kong"
    assert datadog_lines(_entry(), conf) == [
        f"kong.request.count:1|c|#name:my_svc,status:201,{consumer_tag}",
        f"kong.latency:15|ms|#name:my_svc,status:201,{consumer_tag}",
        f"kong.request.size:120|ms|#name:my_svc,status:201,{consumer_tag}",
        f"kong.response.size:340|ms|#name:my_svc,status:201,{consumer_tag}",
        f"kong.upstream_latency:10|ms|#name:my_svc,status:201,{consumer_tag}",
        f"kong.kong_latency:5|ms|#name:my_svc,status:201,{consumer_tag}",
    ]
    conf = fill_record(
        DATADOG.fields,
        {
            "prefix": "p",
            "service_name_tag": "upstream",
            "status_tag": "http_status",
            "consumer_tag": "user",
            "metrics": [
                {
                    "name": "latency",
                    "stat_type": "gauge",
                    "sample_rate": 0.25,
                    "tags": ["T2:V2", "T4"],
                    "consumer_identifier": "consumer_id",
                },
                {"name": "request_size", "stat_type": "distribution"},
            ],
        },
    )
    assert datadog_lines(_entry(), conf) == [
        "p.latency:15|g|@0.25|#upstream:my_svc,http_status:201,user:c_1,T2:V2,T4",
        "p.request.size:120|d|#upstream:my_svc,http_status:201",
    ]
    assert (
        DATADOG.validate({**conf, "metrics": [{"name": "latency", "stat_type": "counter"}]})
        is not None
    )
