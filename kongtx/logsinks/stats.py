"""Per-process counters of the log sinks (entries dropped per plugin), for ``/status`` and ``/metrics``."""

from __future__ import annotations

__all__ = ["SINK_STATS", "SinkStats"]


class SinkStats:
    """Counts of log entries dropped, by plugin name, in this process."""

    __slots__ = ("_dropped",)

    def __init__(self) -> None:
        self._dropped: dict[str, int] = {}

    def dropped(self, plugin: str, count: int = 1) -> None:
        """Record ``count`` entries of ``plugin`` dropped."""
        self._dropped[plugin] = self._dropped.get(plugin, 0) + count

    def dropped_by_plugin(self) -> dict[str, int]:
        """``{plugin: entries dropped}`` since the process started."""
        return dict(self._dropped)


#: This process's counters (one per process, like prometheus_client's default registry).
SINK_STATS = SinkStats()
