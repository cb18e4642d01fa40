"""Bind results remembered for ``cache_ttl`` seconds (Kong caches both outcomes that long).

Keys are an HMAC, under a per-process secret, of the server settings, the
username and ``sha256(password)``: no password is kept in memory, and the
same username with another password is another entry. Concurrent lookups of
one key share a single bind.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet.defer import Deferred

__all__ = ["MISS", "BindCache"]

#: :meth:`BindCache.peek` found nothing usable.
MISS: Any = object()


class BindCache:
    """A bounded LRU of ``key -> (outcome, expires_at)`` plus the binds in flight.

    :param clock: ``seconds()`` for expiry.
    :param size: entries kept.
    """

    def __init__(self, clock: Any, size: int = 10000, secret: bytes | None = None) -> None:
        self.clock = clock
        self.size = size
        self._secret = secret if secret is not None else os.urandom(32)
        self._entries: OrderedDict[bytes, tuple[bool, float | None]] = OrderedDict()
        self._pending: dict[bytes, list[Deferred[bool]]] = {}

    def key(self, scope: str, username: str, password: bytes) -> bytes:
        """The entry key for ``username``/``password`` under ``scope`` (server settings)."""
        mac = hmac.new(self._secret, digestmod=hashlib.sha256)
        for part in (
            scope.encode("utf-8"),
            username.encode("utf-8"),
            hashlib.sha256(password).digest(),
        ):
            mac.update(len(part).to_bytes(4, "big"))
            mac.update(part)
        return mac.digest()

    def peek(self, key: bytes) -> Any:
        """The cached outcome (bool), or :data:`MISS` (absent or expired)."""
        entry = self._entries.get(key)
        if entry is None:
            return MISS
        outcome, expires_at = entry
        if expires_at is not None and self.clock.seconds() >= expires_at:
            del self._entries[key]
            return MISS
        self._entries.move_to_end(key)
        return outcome

    def put(self, key: bytes, outcome: bool, ttl: float) -> None:
        """Remember ``outcome`` for ``ttl`` seconds (0: until evicted, as Kong's mlcache)."""
        expires_at = self.clock.seconds() + ttl if ttl > 0 else None
        self._entries[key] = (outcome, expires_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    async def get(self, key: bytes, ttl: float, load: Callable[[], Awaitable[bool]]) -> bool:
        """The cached outcome, or ``load()``'s (shared by concurrent callers, then cached).

        A ``load`` failure is not cached; every waiter gets it.
        """
        found = self.peek(key)
        if found is not MISS:
            return bool(found)
        waiters = self._pending.get(key)
        if waiters is not None:
            d: Deferred[bool] = Deferred()
            waiters.append(d)
            return await d
        self._pending[key] = waiters = []
        try:
            outcome = await load()
        except BaseException as exc:
            for waiter in self._pending.pop(key, ()):
                waiter.errback(exc)
            raise
        self.put(key, outcome, ttl)
        for waiter in self._pending.pop(key, ()):
            waiter.callback(outcome)
        return outcome

    def __len__(self) -> int:
        return len(self._entries)
