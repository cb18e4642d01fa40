"""Kong's metric families in Prometheus's text format (0.0.4).

The families are ``prometheus_client`` :class:`~prometheus_client.Metric`
objects; :func:`render` writes them with Kong's exact names. (``generate_latest``
would rename Kong's ``kong_bandwidth_bytes`` counter to ``..._total``, which
Kong's dashboards do not expect.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import Metric
from prometheus_client.utils import floatToGoString

from kongtx.plugins.prometheus.metrics import HISTOGRAMS, RequestMetrics

__all__ = ["CONTENT_TYPE", "node_families", "render", "request_families"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_HELP = {
    "kong_http_requests_total": "HTTP status codes per consumer/service/route in Kong",
    "kong_kong_latency_ms": "Latency added by Kong and enabled plugins for each service/route in Kong",
    "kong_upstream_latency_ms": "Latency added by upstream response for each service/route in Kong",
    "kong_request_latency_ms": "Total latency incurred during requests for each service/route in Kong",
    "kong_bandwidth_bytes": "Total bandwidth (ingress/egress) throughput in bytes",
}
_REQUEST_LABELS = ("service", "route", "code", "source", "workspace", "consumer")
_BANDWIDTH_LABELS = ("service", "route", "direction", "workspace", "consumer")
_LATENCY_LABELS = ("service", "route", "workspace")
_HEALTH_STATES = ("healthchecks_off", "healthy", "unhealthy", "dns_error")


def _family(name: str, documentation: str, kind: str) -> Metric:
    metric = Metric(name, documentation, kind)
    metric.name = name  # Metric() drops a counter's "_total"; Kong's names are kept as they are
    return metric


def request_families(metrics: RequestMetrics) -> list[Metric]:
    """``kong_http_requests_total``, the three latency histograms and ``kong_bandwidth_bytes``
    (families without samples are left out, as Kong's exporter prints none)."""
    out = []
    requests = _family("kong_http_requests_total", _HELP["kong_http_requests_total"], "counter")
    for labels, value in sorted(metrics.requests.items()):
        requests.add_sample("kong_http_requests_total", dict(zip(_REQUEST_LABELS, labels)), value)
    out.append(requests)
    for name, buckets in HISTOGRAMS.items():
        family = _family(name, _HELP[name], "histogram")
        for labels, counts in sorted(metrics.histograms[name].items()):
            base = dict(zip(_LATENCY_LABELS, labels))
            running = 0.0
            for bound, count in zip((*buckets, float("inf")), counts):
                running += count
                family.add_sample(f"{name}_bucket", {**base, "le": floatToGoString(bound)}, running)
            family.add_sample(f"{name}_count", base, running)
            family.add_sample(f"{name}_sum", base, counts[-1])
        out.append(family)
    bandwidth = _family("kong_bandwidth_bytes", _HELP["kong_bandwidth_bytes"], "counter")
    for labels, value in sorted(metrics.bandwidth.items()):
        bandwidth.add_sample("kong_bandwidth_bytes", dict(zip(_BANDWIDTH_LABELS, labels)), value)
    out.append(bandwidth)
    return [family for family in out if family.samples]


def node_families(
    *,
    node_id: str,
    version: str,
    datastore_reachable: bool,
    server: Mapping[str, int],
    target_health: Iterable[tuple[str, str, str, str]] = (),
    dropped: Mapping[str, int] | None = None,
) -> list[Metric]:
    """The node-wide gauges Kong always exports, plus kongtx's dropped log entries.

    :param server: ``/status``'s ``server`` counters (summed over worker processes).
    :param target_health: ``(upstream, target, address, state)`` with Kong's lower-case state.
    :param dropped: log entries dropped per plugin.
    """
    info = _family("kong_node_info", "Kong Node metadata information", "gauge")
    info.add_sample("kong_node_info", {"node_id": node_id, "version": version}, 1)
    reachable = _family(
        "kong_datastore_reachable", "Datastore reachable from Kong, 0 is unreachable", "gauge"
    )
    reachable.add_sample("kong_datastore_reachable", {}, 1 if datastore_reachable else 0)
    connections = _family(
        "kong_nginx_connections_total", "Number of connections by subsystem", "gauge"
    )
    for state in ("accepted", "active", "handled", "reading", "waiting", "writing"):
        value = server.get(f"connections_{state}")
        if value is not None:
            labels = {"node_id": node_id, "subsystem": "http", "state": state}
            connections.add_sample("kong_nginx_connections_total", labels, value)
    requests = _family("kong_nginx_requests_total", "Number of requests total", "gauge")
    requests.add_sample(
        "kong_nginx_requests_total",
        {"node_id": node_id, "subsystem": "http"},
        server.get("total_requests", 0),
    )
    health = _family(
        "kong_upstream_target_health",
        "Health status of targets of upstream. States = healthchecks_off|healthy|unhealthy"
        "|dns_error, value is 1 when state is populated.",
        "gauge",
    )
    for upstream, target, address, state in target_health:
        for candidate in _HEALTH_STATES:
            labels = {
                "upstream": upstream,
                "target": target,
                "address": address,
                "state": candidate,
                "subsystem": "http",
            }
            health.add_sample("kong_upstream_target_health", labels, 1 if candidate == state else 0)
    drops = _family(
        "kongtx_log_entries_dropped_total",
        "Log entries dropped by log plugins (queue full, too large, or not deliverable)",
        "counter",
    )
    for plugin, count in sorted((dropped or {}).items()):
        drops.add_sample("kongtx_log_entries_dropped_total", {"plugin": plugin}, count)
    return [f for f in (info, reachable, connections, requests, health, drops) if f.samples]


def _escape(value: Any) -> str:
    return str(value).replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def render(families: Sequence[Metric]) -> bytes:
    """The text exposition of ``families`` (labels in the order they were given)."""
    lines = []
    for family in families:
        lines.append(f"# HELP {family.name} {family.documentation}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for sample in family.samples:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sample.labels.items())
            text = f"{sample.name}{{{labels}}}" if labels else sample.name
            lines.append(f"{text} {floatToGoString(sample.value)}")
    return ("\n".join(lines) + "\n").encode()
