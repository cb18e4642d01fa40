"""What plugins look up by key: consumers, credentials and a consumer's rows, through the cache.

Each lookup returns the answer itself on a cache hit and a Deferred on a miss
(one indexed query, shared by every request asking for the same key
meanwhile). :func:`then` chains on either without paying for a Deferred
when there is none.

The same object follows the change events: a change to a row forgets every
cache entry built from it, before and after the change (a credential whose
key changed is forgotten under both keys, a key first tried while missing
works as soon as it is created), in this process and, through the events
relayed to them, in the worker processes and on the other nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kongtx.cache.keys import cache_key, key_value
from kongtx.cache.lru import EntityCache, Lookup
from kongtx.schema.fields import is_uuid
from kongtx.store.events import DELETE, ChangeEvent

__all__ = ["Entities", "RowSource", "then"]

T = TypeVar("T")
Row = dict[str, Any]

_log = Logger()


class RowSource(Protocol):
    """Where misses are read from: the DAO (its indexed single-key reads)."""

    def select(self, entity: str, id: str) -> Any:
        """The row ``id`` of ``entity`` (awaitable or value), or None."""

    def select_by_field(self, entity: str, field: str, value: Any) -> Any:
        """The row whose unique ``field`` is ``value``, or None."""

    def select_all_by(self, entity: str, field: str, value: Any) -> Any:
        """Every row whose ``field`` is ``value``."""


def then(result: Lookup, fn: Callable[[Any], T]) -> T | Deferred[T]:
    """``fn(result)`` now if ``result`` is a value, or when the Deferred ``result`` fires."""
    kind = type(result)
    if kind is dict or result is None or kind is tuple:
        return fn(result)  # a cache hit: no isinstance through Deferred's ABC metaclass
    if isinstance(result, Deferred):
        return result.addCallback(fn)
    return fn(result)


class Entities:
    """Consumers, credentials and per-consumer rows, by Kong's cache keys.

    :param cache: the node's :class:`EntityCache`.
    :param source: the DAO (or :meth:`follow_store` once the store is open).
    """

    def __init__(self, cache: EntityCache, source: RowSource | None = None) -> None:
        self.cache = cache
        #: Where misses are read (the DAO, once :meth:`follow_store` ran; nothing exists before).
        self.source: RowSource = source if source is not None else _NoRows()
        #: entity -> the fields its rows are cached by (learned from the lookups made).
        self._fields: dict[str, set[str]] = {"consumers": {"id", "username"}}

    def follow_store(self, dao: Any) -> None:
        """Read misses from ``dao`` and follow its change events."""
        self.source = dao
        dao.add_change_listener(self.on_change)

    # -- lookups -------------------------------------------------------------------
    def consumer(self, id_or_username: str) -> Lookup:
        """The consumer with this id or, failing that, this username (Kong's
        ``kong.client.load_consumer(value, true)``); key ``consumers:<value>:::::``."""
        source = self.source

        async def load() -> Row | None:
            row = None
            if is_uuid(id_or_username):
                row = await _value(source.select("consumers", id_or_username.lower()))
            if row is None:
                row = await _value(source.select_by_field("consumers", "username", id_or_username))
            return row

        return self.cache.get(cache_key("consumers", id_or_username), load)

    def row(self, entity: str, field: str, value: str) -> Lookup:
        """The row of ``entity`` whose unique ``field`` is ``value`` (a credential by its key:
        ``row("keyauth_credentials", "key", key)``); key ``<entity>:<value>:::::``, or None."""
        fields = self._fields.get(entity)
        if fields is None or field not in fields:
            self._learn(entity, field)
        source = self.source
        return self.cache.get(
            cache_key(entity, value),
            lambda: _value(source.select_by_field(entity, field, value)),
        )

    def consumer_rows(self, entity: str, consumer_id: str) -> Lookup:
        """Every row of ``entity`` belonging to the consumer (a consumer's ACL groups:
        ``consumer_rows("acls", id)``), in id order; key ``<entity>:<consumer_id>:::::``."""
        self._learn(entity, "consumer")
        source = self.source
        return self.cache.get(
            cache_key(entity, consumer_id),
            lambda: _listed(source.select_all_by(entity, "consumer", consumer_id)),
        )

    def _learn(self, entity: str, field: str) -> None:
        fields = self._fields.get(entity)
        if fields is None:
            self._fields[entity] = {field}
        elif field not in fields:
            fields.add(field)

    # -- warm-up -------------------------------------------------------------------------
    async def warmup(self, dao: Any, names: list[str]) -> int:
        """``db_cache_warmup_entities``: load every row of the named entities now, under the
        keys plugins look them up by (a consumer by id and username, a credential by its
        endpoint key: ``keyauth_credentials:<key>:::::``), within the cache's bound.
        Entities held by the snapshot (services...) or unknown are skipped.

        :returns: the number of rows cached.
        """
        from kongtx.proxy.snapshot import ROUTING_ENTITIES  # held by the snapshot: never cached

        registry = dao.registry
        wanted = [n for n in names if registry.has(n) and n not in ROUTING_ENTITIES]
        if not wanted:
            return 0
        rows = await dao.load_all(wanted)
        count = 0
        for name in wanted:
            fields = (
                ("id", "username") if name == "consumers" else (registry.get(name).endpoint_key,)
            )
            for field in fields:
                if field is None:
                    continue
                self._learn(name, field)
                for row in rows.get(name, ()):
                    if row.get(field) is not None:
                        self.cache.set(cache_key(name, row[field]), row)
                        count += 1
        return count

    # -- invalidation ---------------------------------------------------------------
    def on_change(self, event: ChangeEvent) -> Deferred[None] | None:
        """A change event: forget the entries built from the changed row."""
        if event.is_reload:
            self.cache.purge()
            return None
        fields = self._fields.get(event.entity)
        if fields is None:
            return None  # nothing is ever cached by this entity's values
        if event.id is not None:
            self.cache.invalidate_row(event.id)
            self.cache.invalidate(cache_key(event.entity, event.id))
        for row in (event.row, event.old):
            if row is not None:
                self._forget(event.entity, fields, row)
        if event.row is None and event.op != DELETE and event.id is not None:
            # From another node, too large to carry the row: read it to find the
            # keys it now answers (a cached miss for its new key must go).
            return Deferred.fromCoroutine(self._forget_fetched(event.entity, event.id))
        return None

    def _forget(self, entity: str, fields: set[str], row: Row) -> None:
        for field in fields:
            value = row.get(field)
            if value is not None:
                self.cache.invalidate(cache_key(entity, key_value(value)))

    async def _forget_fetched(self, entity: str, id: str) -> None:
        try:
            row = await _value(self.source.select(entity, id))
        except Exception as exc:  # noqa: BLE001 - the database is down: TTLs still bound staleness
            _log.warn(
                "could not read {entity} {id} to invalidate it: {exc}",
                entity=entity,
                id=id,
                exc=exc,
            )
            return
        if row is not None:
            self._forget(entity, self._fields.get(entity, set()), row)


class _NoRows:
    """The source of a cache that follows no store yet: nothing exists."""

    def select(self, entity: str, id: str) -> None:
        return None

    def select_by_field(self, entity: str, field: str, value: Any) -> None:
        return None

    def select_all_by(self, entity: str, field: str, value: Any) -> list[Row]:
        return []


async def _value(result: Any) -> Any:
    if isinstance(result, Deferred) or hasattr(result, "__await__"):
        return await result
    return result


async def _listed(result: Any) -> tuple[Row, ...]:
    return tuple(await _value(result))
