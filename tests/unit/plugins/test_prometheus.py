"""prometheus: the per-process metrics (histogram buckets, adding processes up) and the text
exposition, read back with prometheus_client's parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from kongtx.plugins.prometheus.exposition import node_families, render, request_families
from kongtx.plugins.prometheus.metrics import KONG_LATENCY_BUCKETS, RequestMetrics


def _families(metrics: RequestMetrics, **node: object) -> dict[str, object]:
    families = request_families(metrics)
    if node:
        families = node_families(**node) + families  # type: ignore[arg-type]
    text = render(families).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_histogram_buckets_are_cumulative_with_sum_and_count() -> None:
    """An observation lands in the first bucket whose bound it does not exceed; buckets add up."""
    m = RequestMetrics()
    labels = ("svc", "r1", "default")
    for value in (1, 3, 7, 8000):
        m.observe("kong_kong_latency_ms", labels, value)
    family = _families(m)["kong_kong_latency_ms"]
    buckets = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    assert buckets["1.0"] == 1 and buckets["2.0"] == 1 and buckets["5.0"] == 2
    assert buckets["7.0"] == 3 and buckets["6000.0"] == 3 and buckets["+Inf"] == 4
    assert len(buckets) == len(KONG_LATENCY_BUCKETS) + 1
    totals = {s.name: s.value for s in family.samples if not s.name.endswith("_bucket")}
    assert totals == {"kong_kong_latency_ms_count": 4, "kong_kong_latency_ms_sum": 8011}
    assert family.samples[0].labels["service"] == "svc"


def test_processes_add_up() -> None:
    """Counters, bandwidth and histograms of two processes sum, also through JSON."""
    a, b = RequestMetrics(), RequestMetrics()
    key = ("svc", "r1", "200", "service", "default", "")
    for m in (a, b):
        m.count_request(key)
        m.add_bandwidth(("svc", "r1", "egress", "default", ""), 100)
        m.observe("kong_request_latency_ms", ("svc", "r1", "default"), 30)
    total = RequestMetrics()
    total.add(a)
    total.add(b.to_json())
    families = _families(total)
    # the parser names a counter family without its "_total"; the sample keeps Kong's name
    (sample,) = families["kong_http_requests"].samples
    assert (
        sample.name == "kong_http_requests_total"
        and sample.value == 2
        and sample.labels
        == {
            "service": "svc",
            "route": "r1",
            "code": "200",
            "source": "service",
            "workspace": "default",
            "consumer": "",
        }
    )
    (bw,) = families["kong_bandwidth_bytes"].samples
    assert bw.value == 200 and bw.labels["direction"] == "egress"
    # Kong's name on the wire (the parser reports counters' samples with "_total")
    assert b"\nkong_bandwidth_bytes{" in render(request_families(total))
    assert families["kong_bandwidth_bytes"].type == "counter"
    count = [s for s in families["kong_request_latency_ms"].samples if s.name.endswith("_count")]
    assert count[0].value == 2


def test_node_families() -> None:
    """Node info, datastore, connections, requests, target health states and dropped entries."""
    families = _families(
        RequestMetrics(),
        node_id="n1",
        version="3.9.1",
        datastore_reachable=False,
        server={"total_requests": 7, "connections_active": 2, "connections_accepted": 5},
        target_health=[("up", "t:80", "127.0.0.1:80", "unhealthy")],
        dropped={"http-log": 3},
    )
    assert families["kong_node_info"].samples[0].labels == {"node_id": "n1", "version": "3.9.1"}
    assert families["kong_datastore_reachable"].samples[0].value == 0
    states = {s.labels["state"]: s.value for s in families["kong_nginx_connections_total"].samples}
    assert states == {"accepted": 5, "active": 2}
    assert families["kong_nginx_requests_total"].samples[0].value == 7
    health = {s.labels["state"]: s.value for s in families["kong_upstream_target_health"].samples}
    assert health == {"healthchecks_off": 0, "healthy": 0, "unhealthy": 1, "dns_error": 0}
    drops = families["kongtx_log_entries_dropped"].samples[0]
    assert drops.labels == {"plugin": "http-log"} and drops.value == 3
