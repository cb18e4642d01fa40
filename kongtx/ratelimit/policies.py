"""The counter store behind each ``policy`` value, one set per node."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred, DeferredList

from kongtx.ratelimit.counters import CounterStore, CounterUnavailable, Hit, Outcome
from kongtx.ratelimit.redis import RedisPools, RedisSettings
from kongtx.ratelimit.sql import SqlCounters

__all__ = ["CounterPolicies"]


class _NoDatabase:
    """``cluster`` without a SQL database (DB-less): every call fails."""

    def hit(self, hits: Sequence[Hit], strict: bool) -> Deferred[Outcome]:
        d: Deferred[Outcome] = Deferred()
        d.errback(CounterUnavailable("the cluster policy needs a database"))
        return d


class CounterPolicies:
    """``local``, ``cluster`` and ``redis`` for the plugins of one node.

    :param clock: ``IReactorTime`` (the reactor).
    :param local: the node's local store (worker 0's, or a child's view of it).
    :param backend: the store's backend (``cluster``); one without SQL means none.
    """

    def __init__(self, clock: Any, local: CounterStore, backend: Any = None) -> None:
        self.local = local
        self.redis = RedisPools(clock)
        if backend is not None and getattr(backend, "schema", None) is not None:
            self.cluster: CounterStore = SqlCounters(backend, clock)
        else:
            self.cluster = _NoDatabase()

    def store_for(self, conf: dict[str, Any]) -> CounterStore:
        """The store a plugin config's ``policy`` names."""
        policy = conf.get("policy") or "local"
        if policy == "redis":
            return self.redis.get(RedisSettings.from_config(conf.get("redis") or {}))
        if policy == "cluster":
            return self.cluster
        return self.local

    def close(self) -> Deferred[Any]:
        """Close the Redis connections."""
        return DeferredList(self.redis.close(), consumeErrors=True)
