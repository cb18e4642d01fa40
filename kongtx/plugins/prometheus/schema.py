"""prometheus config (Kong 3.x ``kong/plugins/prometheus/schema.lua``)."""

from __future__ import annotations

from kongtx.schema import Boolean, Record

__all__ = ["CONFIG"]

CONFIG = Record(
    [
        (
            "per_consumer",
            Boolean(default=False, description="Fill the consumer label of the request metrics."),
        ),
        (
            "status_code_metrics",
            Boolean(
                default=False,
                description="Count requests by status code (kong_http_requests_total).",
            ),
        ),
        (
            "ai_metrics",
            Boolean(default=False, description="AI metrics (Kong's AI plugins; kongtx has none)."),
        ),
        (
            "latency_metrics",
            Boolean(
                default=False,
                description="Record the kong, upstream and request latency histograms.",
            ),
        ),
        (
            "bandwidth_metrics",
            Boolean(
                default=False, description="Count ingress and egress bytes (kong_bandwidth_bytes)."
            ),
        ),
        (
            "upstream_health_metrics",
            Boolean(default=False, description="Export the health of upstream targets."),
        ),
        (
            "wasm_metrics",
            Boolean(
                default=False, description="Wasm filter metrics (kongtx runs no Wasm filters)."
            ),
        ),
    ],
    required=True,
)
