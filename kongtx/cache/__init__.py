"""The entity cache: consumers, credentials and ACLs loaded on first use, by Kong's cache keys.

Plugins reach it through ``ctx.entities`` (an :class:`Entities`); see
docs/internals.md, "Entity cache".
"""

from __future__ import annotations

from typing import Any

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


def open_entities(config: Any, clock: Any, dao: Any) -> Entities:
    """The node's :class:`Entities` over a cache sized by ``mem_cache_size`` with
    ``db_cache_ttl``/``db_cache_neg_ttl``, following ``dao``'s change events."""
    cache = EntityCache(
        clock,
        max_bytes=int(getattr(config, "mem_cache_size", 128 * 1024 * 1024)),
        ttl=float(getattr(config, "db_cache_ttl", 0) or 0),
        neg_ttl=getattr(config, "db_cache_neg_ttl", None),
    )
    entities = Entities(cache, dao)
    dao.add_change_listener(entities.on_change)
    return entities
