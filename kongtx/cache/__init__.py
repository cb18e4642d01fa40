"""The entity cache: consumers, credentials and ACLs loaded on first use, by Kong's cache keys.

Plugins reach it through ``ctx.entities`` (an :class:`Entities`); see
docs/internals.md, "Entity cache".
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IReactorTime

from kongtx.cache.entities import Entities, RowSource, then
from kongtx.cache.keys import cache_key
from kongtx.cache.lru import EntityCache, Lookup, estimate_size

__all__ = [
    "Entities",
    "EntityCache",
    "Lookup",
    "RowSource",
    "cache_key",
    "estimate_size",
    "open_entities",
    "then",
]


def open_entities(config: Any, clock: IReactorTime) -> Entities:
    """The node's :class:`Entities` over a cache sized by ``mem_cache_size`` with
    ``db_cache_ttl``/``db_cache_neg_ttl``/``db_resurrect_ttl``; :meth:`Entities.follow_store` gives it the store."""
    cache = EntityCache(
        clock,
        max_bytes=int(config.mem_cache_size),
        ttl=float(config.db_cache_ttl or 0),
        neg_ttl=config.db_cache_neg_ttl,
        resurrect_ttl=float(config.db_resurrect_ttl or 0),
    )
    return Entities(cache)
