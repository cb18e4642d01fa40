"""prometheus config (Kong 3.x ``kong/plugins/prometheus/schema.lua``)."""

from __future__ import annotations

from kongtx.schema import Boolean, Record

__all__ = ["CONFIG"]

CONFIG = Record(
    [
        ("per_consumer", Boolean(default=False)),
        ("status_code_metrics", Boolean(default=False)),
        ("ai_metrics", Boolean(default=False)),
        ("latency_metrics", Boolean(default=False)),
        ("bandwidth_metrics", Boolean(default=False)),
        ("upstream_health_metrics", Boolean(default=False)),
        ("wasm_metrics", Boolean(default=False)),
    ],
    required=True,
)
