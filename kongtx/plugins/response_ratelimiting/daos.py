"""The ``cluster`` policy's counters table (Kong's ``response_ratelimiting_metrics``)."""

from __future__ import annotations

from kongtx.ratelimit.sql import metrics_migration
from kongtx.store.migrations import register_migration

TABLE = "response_ratelimiting_metrics"

register_migration(metrics_migration("response-ratelimiting:001_metrics", TABLE))
