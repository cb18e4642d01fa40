"""Adding up the metrics of a node's worker processes, as Kong's counters sync to a shared dict.

Each worker process but worker 0 (which serves the Admin and Status APIs)
writes its metrics every second, when they changed, to
``<prefix>/prometheus/<pid>.json`` (in a thread, atomically replaced). The
process that answers scrapes adds these files to its own live metrics: a
worker's share is at most a second old, as with Kong's one-second counter sync.
A file stays after its worker ended, so counters never go back; the scraping
process removes the directory's files when it starts.
"""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["MetricsFiles"]


class MetricsFiles:
    """The directory of per-process metric dumps.

    :param directory: ``<prefix>/prometheus``.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _own(self) -> str:
        return os.path.join(self.directory, f"{os.getpid()}.json")

    def clear(self) -> None:
        """Remove every dump (a new node starts counting from zero). Blocking: call at start."""
        if not os.path.isdir(self.directory):
            return
        for name in os.listdir(self.directory):
            if name.endswith(".json"):
                try:
                    os.unlink(os.path.join(self.directory, name))
                except FileNotFoundError:
                    pass

    def write(self, data: dict[str, Any]) -> None:
        """Replace this process's dump with ``data`` (blocking: run in a thread)."""
        os.makedirs(self.directory, exist_ok=True)
        path = self._own()
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)

    def read_others(self) -> list[dict[str, Any]]:
        """Every other process's dump (blocking: run in a thread); unreadable ones are skipped."""
        if not os.path.isdir(self.directory):
            return []
        own = os.path.basename(self._own())
        out = []
        for name in sorted(os.listdir(self.directory)):
            if not name.endswith(".json") or name == own:
                continue
            try:
                with open(os.path.join(self.directory, name), encoding="utf-8") as fh:
                    out.append(json.load(fh))
            except (OSError, ValueError):
                continue
        return out
