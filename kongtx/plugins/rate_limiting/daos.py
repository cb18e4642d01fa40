"""The ``cluster`` policy's counters table (Kong's ``ratelimiting_metrics``)."""

from __future__ import annotations

from kongtx.ratelimit.sql import metrics_migration
from kongtx.store.migrations import register_migration

TABLE = "ratelimiting_metrics"

register_migration(metrics_migration("rate-limiting:001_metrics", TABLE))
