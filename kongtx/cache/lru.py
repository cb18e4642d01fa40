"""The entity cache itself: a bounded LRU with TTLs, negative entries and coalesced misses.

Kong's mlcache on one thread. :meth:`EntityCache.get` returns the cached
value at once on a hit (no Deferred, no I/O); on a miss it starts ``load()``
once per key, however many requests ask meanwhile, and returns a Deferred
that every one of them shares the answer of. A ``None`` answer is cached too
(a negative entry, ``db_cache_neg_ttl``), so an unknown key costs one query
per TTL, not one per request. A failed load caches nothing: the next request
tries again (database down: each one fails within ``pg_timeout``), except when
the key held a value whose TTL just ran out: that stale value is served again
for ``db_resurrect_ttl`` seconds (Kong's mlcache ``resurrect_ttl``), then
refreshing it is tried again. A value whose expiry came from the row's own
``ttl`` (an expiring credential) is never brought back.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Union

from twisted.internet.defer import Deferred, ensureDeferred, fail
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

__all__ = ["EntityCache", "estimate_size"]

#: What :meth:`EntityCache.get` returns: the value (hit) or a Deferred firing with it (miss).
Lookup = Union[Any, Deferred]

_ENTRY_OVERHEAD = 240  # bytes: the entry object, its OrderedDict slot, the key's index


def estimate_size(value: Any) -> int:
    """Approximate bytes held by ``value`` (rows: dicts of str/int/bool/lists), for the bound."""
    if isinstance(value, str):
        return 49 + len(value)
    if isinstance(value, dict):
        return 232 + sum(estimate_size(k) + estimate_size(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return 56 + 8 * len(value) + sum(estimate_size(v) for v in value)
    return 28


class _Entry:
    __slots__ = ("value", "expires", "size", "ids", "resurrectable")

    def __init__(
        self,
        value: Any,
        expires: float | None,
        size: int,
        ids: tuple[str, ...],
        resurrectable: bool,
    ) -> None:
        self.value = value
        self.expires = expires
        self.size = size
        self.ids = ids
        #: False when the row's own ``ttl`` set the expiry: the row itself is gone then.
        self.resurrectable = resurrectable


class EntityCache:
    """Cached lookups by key (Kong's cache keys, see :func:`kongtx.cache.cache_key`).

    :param clock: ``seconds()`` for TTLs.
    :param max_bytes: ``mem_cache_size``: the estimated size of all entries
        (:func:`estimate_size` of key and value) stays under it; the least
        recently used entries go first.
    :param ttl: ``db_cache_ttl`` seconds for found values (0: no expiry).
    :param neg_ttl: ``db_cache_neg_ttl`` seconds for misses (None: same as ``ttl``).
    :param resurrect_ttl: ``db_resurrect_ttl``: seconds an expired value is served
        again when refreshing it fails (database unreachable); 0: never.
    """

    def __init__(
        self,
        clock: IReactorTime,
        *,
        max_bytes: int = 128 * 1024 * 1024,
        ttl: float = 0.0,
        neg_ttl: float | None = None,
        resurrect_ttl: float = 0.0,
    ) -> None:
        self.clock = clock
        self.max_bytes = max(1, int(max_bytes))
        self.ttl = float(ttl or 0)
        self.neg_ttl = self.ttl if neg_ttl is None else float(neg_ttl)
        self.resurrect_ttl = float(resurrect_ttl or 0)
        #: Stale values served again because refreshing them failed.
        self.resurrected = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._pending: dict[str, _Flight] = {}
        self._keys_by_id: dict[str, set[str]] = {}
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.loads = 0

    # -- reading -------------------------------------------------------------------
    def get(self, key: str, load: Callable[[], Awaitable[Any] | Any]) -> Lookup:
        """The value cached under ``key``; else start (or join) ``load()`` and return a Deferred.

        :param load: returns (or resolves to) the value, or None for "does not exist".
            A row's own ``ttl`` (seconds left, e.g. an expiring key-auth credential)
            caps the entry's lifetime, so an expired credential is never served.
        """
        entry = self._entries.get(key)
        stale = None
        if entry is not None:
            if entry.expires is None or entry.expires > self.clock.seconds():
                self._entries.move_to_end(key)
                self.hits += 1
                return entry.value
            self._drop(key)
            if entry.resurrectable and self.resurrect_ttl > 0:
                stale = entry
        self.misses += 1
        pending = self._pending.get(key)
        if pending is not None:
            return pending.wait()
        self.loads += 1
        try:
            result = load()
        except Exception:
            return self._failed(key, Failure(), stale)
        if not inspect.isawaitable(result):
            self._store(key, result)
            return result
        d: Deferred[Any] = ensureDeferred(result)  # type: ignore[arg-type]
        if d.called:  # answered synchronously (memory store)
            out: list[Any] = []
            d.addBoth(out.append)
            if isinstance(out[0], Failure):
                return self._failed(key, out[0], stale)
            self._store(key, out[0])
            return out[0]
        flight = self._pending[key] = _Flight(stale)
        d.addBoth(self._loaded, key, flight)
        return flight.wait()

    def _failed(self, key: str, failure: Failure, stale: _Entry | None) -> Lookup:
        """A load failed: serve the stale value again for ``resurrect_ttl``, else fail."""
        if stale is None:
            return fail(failure)
        self._resurrect(key, stale)
        return stale.value

    def _resurrect(self, key: str, stale: _Entry) -> None:
        self.resurrected += 1
        self._store(key, stale.value, ttl=self.resurrect_ttl)

    def peek(self, key: str) -> tuple[bool, Any]:
        """``(True, value)`` if ``key`` holds a live entry (value None: a cached miss), else
        ``(False, None)``. Does not load and does not refresh the LRU order."""
        entry = self._entries.get(key)
        if entry is None or (entry.expires is not None and entry.expires <= self.clock.seconds()):
            return False, None
        return True, entry.value

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return self.peek(key)[0]

    # -- writing -------------------------------------------------------------------
    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` (warm-up; a load in flight for it is superseded)."""
        self._pending.pop(key, None)
        self._store(key, value)

    def invalidate(self, key: str) -> bool:
        """Forget ``key`` (and ignore the answer of a load in flight for it). True if it was cached."""
        self._pending.pop(key, None)
        return self._drop(key)

    def invalidate_row(self, row_id: str) -> None:
        """Forget every entry whose value holds the row ``row_id`` (a change event that
        named only the row's id)."""
        for key in tuple(self._keys_by_id.get(row_id, ())):
            self.invalidate(key)

    def purge(self) -> None:
        """Forget everything (``DELETE /cache``, a full reload)."""
        self._entries.clear()
        self._pending.clear()
        self._keys_by_id.clear()
        self.bytes = 0

    # -- internals -----------------------------------------------------------------
    def _loaded(self, result: Any, key: str, flight: _Flight) -> None:
        if self._pending.get(key) is flight:
            del self._pending[key]
            if not isinstance(result, Failure):
                self._store(key, result)
            elif flight.stale is not None:
                self._resurrect(key, flight.stale)
                result = flight.stale.value
        # else: invalidated meanwhile (the row changed): a stale value must not come back
        flight.answer(result)

    def _store(self, key: str, value: Any, ttl: float | None = None) -> None:
        self._drop(key)
        resurrectable = True
        if ttl is None:
            if value is None:
                ttl = self.neg_ttl
            else:
                ttl = _row_ttl(value, self.ttl)
                resurrectable = not _own_ttl(value)  # an expiring row is gone when it expires
        expires = self.clock.seconds() + ttl if ttl > 0 else None
        size = _ENTRY_OVERHEAD + len(key) + estimate_size(value)
        if size > self.max_bytes:
            return
        ids = _row_ids(value)
        self._entries[key] = _Entry(value, expires, size, ids, resurrectable)
        self.bytes += size
        for rid in ids:
            self._keys_by_id.setdefault(rid, set()).add(key)
        while self.bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    def _drop(self, key: str) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self.bytes -= entry.size
        for rid in entry.ids:
            keys = self._keys_by_id.get(rid)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._keys_by_id[rid]
        return True


class _Flight:
    """One load in flight and the requests waiting for it."""

    __slots__ = ("waiters", "stale")

    def __init__(self, stale: _Entry | None = None) -> None:
        self.waiters: list[Deferred[Any]] = []
        #: The expired entry this load refreshes (served again if the load fails).
        self.stale = stale

    def wait(self) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.waiters.append(d)
        return d

    def answer(self, result: Any) -> None:
        waiters, self.waiters = self.waiters, []
        for d in waiters:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(result)


def _row_ids(value: Any) -> tuple[str, ...]:
    if isinstance(value, dict):
        rid = value.get("id")
        return (rid,) if isinstance(rid, str) else ()
    if isinstance(value, (list, tuple)):
        return tuple(r["id"] for r in value if isinstance(r, dict) and isinstance(r.get("id"), str))
    return ()


def _own_ttl(value: Any) -> bool:
    """Whether ``value`` holds a row with its own ``ttl`` (an expiring credential)."""
    rows = value if isinstance(value, (list, tuple)) else (value,)
    return any(isinstance(row, dict) and row.get("ttl") is not None for row in rows)


def _row_ttl(value: Any, ttl: float) -> float:
    """``ttl``, capped by the ``ttl`` (seconds left) of the row or rows in ``value``."""
    rows = value if isinstance(value, (list, tuple)) else (value,)
    for row in rows:
        left = row.get("ttl") if isinstance(row, dict) else None
        if isinstance(left, (int, float)) and not isinstance(left, bool):
            left = max(float(left), 0.001)
            ttl = left if ttl <= 0 else min(ttl, left)
    return ttl
