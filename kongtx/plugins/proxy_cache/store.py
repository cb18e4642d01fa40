"""The memory strategy: cached responses in this process, bounded in bytes, LRU.

Kong keeps them in an nginx shared dict (per node, ``mem_cache_size``).
kongtx keeps one :class:`MemoryStore` per ``memory.dictionary_name`` in each
process: with ``worker_processes > 1`` every worker caches on its own (a hit
costs no IPC, a response may be cached once per worker); purges through the
Admin API reach every worker of the node (see ``handler.py``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CACHE_VERSION", "CachedResponse", "MemoryStore"]

CACHE_VERSION = 1


@dataclass
class CachedResponse:
    """One cached response (Kong's cache value)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    timestamp: float
    ttl: float
    version: int = CACHE_VERSION
    req_body: bytes | None = None
    size: int = field(default=0, compare=False)

    def to_json(self) -> dict[str, Any]:
        """Kong's ``GET /proxy-cache/.../caches/{key}`` body."""
        headers: dict[str, Any] = {}
        for name, value in self.headers:
            if name in headers:
                old = headers[name]
                headers[name] = [*old, value] if isinstance(old, list) else [old, value]
            else:
                headers[name] = value
        return {
            "status": self.status,
            "headers": headers,
            "body": self.body.decode("utf-8", "replace"),
            "body_len": len(self.body),
            "timestamp": int(self.timestamp),
            "ttl": self.ttl,
            "version": self.version,
            "req_body": self.req_body.decode("utf-8", "replace") if self.req_body else None,
        }


class MemoryStore:
    """Cached responses by key, dropped after their storage TTL or when space runs out.

    :param clock: ``seconds()``.
    :param max_bytes: bound on the bodies and headers kept (least recently used go first).
    """

    def __init__(self, clock: Any, max_bytes: int) -> None:
        self.clock = clock
        self.max_bytes = max_bytes
        self.used = 0
        self._entries: OrderedDict[str, tuple[float, CachedResponse]] = OrderedDict()

    def fetch(self, key: str) -> CachedResponse | None:
        """The live entry for ``key`` (marked recently used), or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self.clock.seconds() >= expires:
            self.purge(key)
            return None
        self._entries.move_to_end(key)
        return value

    def store(self, key: str, value: CachedResponse, ttl: float) -> bool:
        """Keep ``value`` for ``ttl`` seconds; False when it can never fit."""
        value.size = len(value.body) + sum(len(n) + len(v) for n, v in value.headers) + len(key)
        if value.size > self.max_bytes:
            return False
        self.purge(key)
        self._entries[key] = (self.clock.seconds() + ttl, value)
        self.used += value.size
        while self.used > self.max_bytes:
            _old_key, (_, old) = self._entries.popitem(last=False)
            self.used -= old.size
        return True

    def purge(self, key: str) -> bool:
        """Drop ``key``; whether it was there."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self.used -= entry[1].size
        return True

    def flush(self) -> None:
        """Drop everything."""
        self._entries.clear()
        self.used = 0

    def __len__(self) -> int:
        return len(self._entries)
