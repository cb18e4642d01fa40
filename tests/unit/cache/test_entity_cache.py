"""EntityCache and Entities: hits without Deferreds, coalesced misses, TTLs, the LRU bound,
failures, and invalidation by change events (fake clock, no I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from kongtx.cache import EntityCache, cache_key, estimate_size, then
from kongtx.errors import DatabaseUnavailable
from kongtx.plugins.testing import make_entities
from kongtx.store.events import FULL_RELOAD, ChangeEvent


class Loads:
    """A load function whose answers the test gives by hand."""

    def __init__(self) -> None:
        self.calls: list[Deferred[Any]] = []

    def __call__(self) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.calls.append(d)
        return d


def result_of(d: Any) -> Any:
    out: list[Any] = []
    d.addBoth(out.append)
    assert out, "the Deferred has not fired"
    return out[0]


def test_cache_keys_are_kongs() -> None:
    """``DAO:cache_key`` of Kong 3 with an empty workspace."""
    assert cache_key("keyauth_credentials", "k") == "keyauth_credentials:k:::::"
    assert cache_key("acls", {"id": "c1"}) == "acls:c1:::::"
    assert cache_key("x", "a", None, 3) == "x:a::3:::"
    assert cache_key("consumers", 7) == "consumers:7:::::"
    assert cache_key("consumers", None) == "consumers::::::"
    with pytest.raises(ValueError):
        cache_key("x", 1, 2, 3, 4, 5, 6)


def test_concurrent_misses_share_one_load_and_a_hit_is_synchronous() -> None:
    """Three requests for a missing key start one load; afterwards a hit returns the value."""
    cache = EntityCache(Clock())
    load = Loads()
    waiting = [cache.get("k", load) for _ in range(3)]
    assert len(load.calls) == 1 and all(isinstance(d, Deferred) for d in waiting)
    row = {"id": "r1", "key": "k"}
    load.calls[0].callback(row)
    assert [result_of(d) for d in waiting] == [row, row, row]
    assert cache.get("k", load) is row and len(load.calls) == 1
    assert cache.hits == 1


def test_negative_entries_use_neg_ttl() -> None:
    """A miss is cached for ``db_cache_neg_ttl``, a found row for ``db_cache_ttl``."""
    clock = Clock()
    cache = EntityCache(clock, ttl=100, neg_ttl=5)
    assert cache.get("gone", lambda: None) is None
    assert cache.peek("gone") == (True, None)
    assert cache.get("there", lambda: {"id": "1"}) == {"id": "1"}
    clock.advance(5)
    assert cache.peek("gone") == (False, None)
    assert cache.peek("there")[0]
    clock.advance(95)
    assert not cache.peek("there")[0]


def test_a_rows_own_ttl_caps_its_entry() -> None:
    """A credential with 3 s left is not served from the cache after 3 s."""
    clock = Clock()
    cache = EntityCache(clock)
    cache.get("k", lambda: {"id": "1", "ttl": 3})
    clock.advance(2.9)
    assert cache.peek("k")[0]
    clock.advance(0.2)
    assert not cache.peek("k")[0]


def test_failures_are_shared_and_not_cached() -> None:
    """A failed load fails every waiter; the next request tries again."""
    cache = EntityCache(Clock())
    load = Loads()
    first, second = cache.get("k", load), cache.get("k", load)
    load.calls[0].errback(DatabaseUnavailable("down"))
    for d in (first, second):
        assert result_of(d).check(DatabaseUnavailable)
    assert "k" not in cache
    cache.get("k", load)
    assert len(load.calls) == 2


def test_invalidation_during_a_load_drops_its_answer() -> None:
    """A change that arrives while a load is in flight: the (possibly stale) answer is
    given to the waiters but not cached."""
    cache = EntityCache(Clock())
    load = Loads()
    d = cache.get("k", load)
    cache.invalidate("k")
    load.calls[0].callback({"id": "old"})
    assert result_of(d) == {"id": "old"}
    assert "k" not in cache


def test_lru_stays_within_its_bound() -> None:
    """The estimated size never exceeds ``max_bytes``; the least recently used go first."""
    row = {"id": "x" * 36, "key": "y" * 32, "consumer": {"id": "z" * 36}}
    per_entry = estimate_size(row) + 300
    cache = EntityCache(Clock(), max_bytes=10 * per_entry)
    for i in range(100):
        cache.get(f"key-{i}", lambda i=i: {**row, "id": f"{i:036d}"})
        assert cache.bytes <= cache.max_bytes
        cache.get("key-0", lambda: pytest.fail("key-0 is kept warm"))
    assert 5 <= len(cache) <= 10
    assert "key-0" in cache and "key-1" not in cache and "key-99" in cache


def test_invalidate_row_and_purge() -> None:
    """Entries holding a row (alone or in a list) go when that row's id is invalidated."""
    cache = EntityCache(Clock())
    cache.get("a", lambda: {"id": "r1"})
    cache.get("b", lambda: ({"id": "r1"}, {"id": "r2"}))
    cache.get("c", lambda: {"id": "r3"})
    cache.invalidate_row("r1")
    assert "a" not in cache and "b" not in cache and "c" in cache
    cache.purge()
    assert len(cache) == 0 and cache.bytes == 0


def test_then_is_synchronous_for_values() -> None:
    """``then`` calls straight through on a value and chains on a Deferred."""
    assert then(2, lambda v: v + 1) == 3
    assert then({"id": 1}, lambda v: v["id"]) == 1  # a row
    assert then(None, lambda v: v is None) is True  # a cached miss
    assert then(({"id": 1},), len) == 1  # a consumer's rows
    d: Deferred[int] = Deferred()
    out = then(d, lambda v: v + 1)
    d.callback(2)
    assert result_of(out) == 3


# -- Entities: lookups and change events ------------------------------------------------

CONSUMER = {"id": "6f1c2d8e-0000-4000-8000-000000000001", "username": "alice"}
KEY = {"id": "k-1", "key": "secret", "consumer": {"id": CONSUMER["id"]}}


def test_consumer_by_id_or_username() -> None:
    """``consumer`` accepts an id or a username, each cached under its own key."""
    entities = make_entities({"consumers": [CONSUMER]})
    assert entities.consumer(CONSUMER["id"]) is CONSUMER
    assert entities.consumer("alice") is CONSUMER
    assert entities.consumer("bob") is None
    assert cache_key("consumers", "bob") in entities.cache


def test_a_key_created_after_a_miss_works_at_once() -> None:
    """The create event forgets the cached miss for the new key."""
    rows: dict[str, list[dict[str, Any]]] = {"keyauth_credentials": []}
    entities = make_entities(rows)
    assert entities.row("keyauth_credentials", "key", "secret") is None
    rows["keyauth_credentials"].append(KEY)
    assert entities.row("keyauth_credentials", "key", "secret") is None  # still the cached miss
    entities.on_change(ChangeEvent("keyauth_credentials", "create", KEY["id"], KEY))
    assert entities.row("keyauth_credentials", "key", "secret") is KEY


def test_update_forgets_old_and_new_keys_and_delete_forgets_the_row() -> None:
    """A key changed from A to B is forgotten under both; a delete by id alone is enough."""
    rows = {"keyauth_credentials": [KEY]}
    entities = make_entities(rows)
    assert entities.row("keyauth_credentials", "key", "secret") is KEY
    assert entities.row("keyauth_credentials", "key", "new") is None
    moved = {**KEY, "key": "new"}
    rows["keyauth_credentials"] = [moved]
    entities.on_change(ChangeEvent("keyauth_credentials", "update", KEY["id"], moved, KEY))
    assert entities.row("keyauth_credentials", "key", "secret") is None
    assert entities.row("keyauth_credentials", "key", "new") is moved
    rows["keyauth_credentials"] = []
    entities.on_change(ChangeEvent("keyauth_credentials", "delete", KEY["id"]))
    assert entities.row("keyauth_credentials", "key", "new") is None


def test_a_remote_create_without_its_row_is_read_to_find_its_keys() -> None:
    """An event from another node that did not carry the row: the row is read by id."""
    rows: dict[str, list[dict[str, Any]]] = {"keyauth_credentials": []}
    entities = make_entities(rows)
    assert entities.row("keyauth_credentials", "key", "secret") is None
    rows["keyauth_credentials"].append(KEY)
    result_of(entities.on_change(ChangeEvent("keyauth_credentials", "create", KEY["id"])))
    assert entities.row("keyauth_credentials", "key", "secret") is KEY


def test_unrelated_events_cost_nothing_and_reload_purges() -> None:
    """Route events do not touch the cache; a full reload empties it."""
    entities = make_entities({"consumers": [CONSUMER]})
    entities.consumer("alice")
    assert entities.on_change(ChangeEvent("routes", "create", "r", {"id": "r"})) is None
    assert len(entities.cache) == 1
    entities.on_change(FULL_RELOAD)
    assert len(entities.cache) == 0


def test_warmup_preloads_consumers_and_credentials() -> None:
    """``db_cache_warmup_entities``: rows cached at start under the keys plugins use; entities
    the snapshot holds are skipped."""
    from kongtx.cache import Entities
    from kongtx.plugins.base import load_plugins
    from kongtx.store.dao import DAO
    from kongtx.store.memory import MemoryBackend

    load_plugins(["key-auth"])
    clock = Clock()
    dao = DAO(MemoryBackend(), clock)
    consumer = result_of(Deferred.fromCoroutine(dao.insert("consumers", {"username": "ann"})))
    result_of(
        Deferred.fromCoroutine(
            dao.insert("keyauth_credentials", {"consumer": {"id": consumer["id"]}, "key": "k9"})
        )
    )
    entities = Entities(EntityCache(clock))
    cached = result_of(
        Deferred.fromCoroutine(
            entities.warmup(dao, ["services", "consumers", "keyauth_credentials", "nope"])
        )
    )
    assert cached == 3
    entities.follow_store(dao)
    assert entities.row("keyauth_credentials", "key", "k9")["consumer"]["id"] == consumer["id"]
    assert entities.consumer("ann")["id"] == consumer["id"]
    assert entities.cache.hits == 2 and entities.cache.loads == 0


class _FailingStore:
    """A database for the entity cache that can be taken down (every read then fails
    with :class:`DatabaseUnavailable`, as the DAO does within ``pg_timeout``)."""

    def __init__(self, rows: dict[str, dict[str, Any]]) -> None:
        self.rows = rows
        self.down = False
        self.reads = 0

    def _read(self) -> None:
        self.reads += 1
        if self.down:
            raise DatabaseUnavailable("could not connect to the database")

    def select(self, entity: str, id: str) -> Deferred[Any]:
        return self.select_by_field(entity, "id", id)

    def select_by_field(self, entity: str, field: str, value: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        try:
            self._read()
        except DatabaseUnavailable as exc:
            d.errback(exc)
            return d
        found = [r for r in self.rows.get(entity, {}).values() if r.get(field) == value]
        d.callback(found[0] if found else None)
        return d

    def select_all_by(self, entity: str, field: str, value: Any) -> Deferred[Any]:
        self._read()
        return Deferred()


def _answer(lookup: Any) -> Any:
    """A lookup's answer: the value (hit, or a read answered at once) or what its Deferred gave."""
    return result_of(lookup) if isinstance(lookup, Deferred) else lookup


def _key_cache(clock: Clock, store: _FailingStore, resurrect: float = 30) -> Any:
    from kongtx.cache import Entities

    return Entities(EntityCache(clock, ttl=10, neg_ttl=10, resurrect_ttl=resurrect), store)


def test_an_expired_entry_is_resurrected_while_the_database_is_down() -> None:
    """db_resurrect_ttl: a credential whose TTL ran out while the database is unreachable is
    served again for resurrect_ttl seconds (one failed read), then refreshing is tried again;
    once the database is back the fresh row replaces it."""
    clock = Clock()
    row = {"id": "c1", "key": "k1", "consumer": {"id": "u1"}}
    store = _FailingStore({"keyauth_credentials": {"c1": row}})
    entities = _key_cache(clock, store)
    assert _answer(entities.row("keyauth_credentials", "key", "k1")) == row
    store.down = True
    clock.advance(10)  # db_cache_ttl over
    assert _answer(entities.row("keyauth_credentials", "key", "k1")) == row
    reads = store.reads
    clock.advance(29)
    assert entities.row("keyauth_credentials", "key", "k1") == row  # a hit: no read, no Deferred
    assert store.reads == reads and entities.cache.resurrected == 1
    clock.advance(1)  # resurrect_ttl over: tried again, still down, resurrected again
    assert _answer(entities.row("keyauth_credentials", "key", "k1")) == row
    assert store.reads == reads + 1 and entities.cache.resurrected == 2
    store.down = False
    store.rows["keyauth_credentials"]["c1"] = fresh = {**row, "tags": ["new"]}
    clock.advance(30)
    assert _answer(entities.row("keyauth_credentials", "key", "k1")) == fresh


def test_a_cached_miss_is_resurrected_and_a_never_cached_key_fails() -> None:
    """An unknown key stays unknown (401, not 500) while the database is down; a key never
    looked up has nothing to resurrect and fails with the database error."""
    clock = Clock()
    store = _FailingStore({"keyauth_credentials": {}})
    entities = _key_cache(clock, store)
    assert _answer(entities.row("keyauth_credentials", "key", "nope")) is None
    store.down = True
    clock.advance(11)
    assert _answer(entities.row("keyauth_credentials", "key", "nope")) is None
    failure = _answer(entities.row("keyauth_credentials", "key", "never"))
    assert failure.check(DatabaseUnavailable)


def test_nothing_is_resurrected_when_off_invalidated_or_expired_by_its_own_ttl() -> None:
    """resurrect_ttl 0 fails as before; an entry a change event removed, or a row whose own
    ttl ran out (an expiring credential), is never served again."""
    clock = Clock()
    row = {"id": "c1", "key": "k1"}
    store = _FailingStore({"keyauth_credentials": {"c1": row}})
    off = _key_cache(clock, store, resurrect=0)
    assert _answer(off.row("keyauth_credentials", "key", "k1")) == row
    store.down = True
    clock.advance(10)
    assert _answer(off.row("keyauth_credentials", "key", "k1")).check(DatabaseUnavailable)

    store.down = False
    entities = _key_cache(clock, store)
    assert _answer(entities.row("keyauth_credentials", "key", "k1")) == row
    entities.on_change(ChangeEvent("keyauth_credentials", "delete", "c1", None, old=row))
    store.down = True
    assert _answer(entities.row("keyauth_credentials", "key", "k1")).check(DatabaseUnavailable)

    store.down = False
    store.rows["keyauth_credentials"]["c2"] = expiring = {"id": "c2", "key": "k2", "ttl": 5}
    assert _answer(entities.row("keyauth_credentials", "key", "k2")) == expiring
    store.down = True
    clock.advance(5)
    assert _answer(entities.row("keyauth_credentials", "key", "k2")).check(DatabaseUnavailable)


def test_concurrent_requests_share_the_resurrected_value() -> None:
    """Requests waiting on the one refresh of an expired key all get the stale value when
    the refresh fails."""
    clock = Clock()
    cache = EntityCache(clock, ttl=10, resurrect_ttl=30)
    load = Loads()
    first = cache.get("k", load)
    load.calls[0].callback({"id": "r"})
    assert result_of(first) == {"id": "r"}
    clock.advance(10)
    waiting = [cache.get("k", load), cache.get("k", load)]
    load.calls[1].errback(DatabaseUnavailable("down"))
    assert [result_of(d) for d in waiting] == [{"id": "r"}, {"id": "r"}]
    assert cache.get("k", load) == {"id": "r"} and len(load.calls) == 2
