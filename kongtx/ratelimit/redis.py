"""The ``redis`` policy: every request is one Lua script, so the step is atomic in Redis.

The script reads every counter of the request, refuses the step if one is
exhausted (same rule as :func:`~kongtx.ratelimit.counters.apply_hits`), else
``INCRBY``-s each and sets ``EXPIREAT`` to its window's end on creation. One
round trip per request whatever the number of windows; nodes sharing the
Redis server share the limit exactly.

Connections: one lazy txredisapi pool per distinct Redis setting (host, port,
database, user, password, TLS), reconnecting by itself; every call is bounded
by the configured timeouts (``connect_timeout``, ``send_timeout``,
``read_timeout``, each ``timeout`` when unset: the longest of them) and fails with
:class:`~kongtx.ratelimit.counters.CounterUnavailable` past it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import txredisapi
from twisted.internet.defer import Deferred, TimeoutError
from twisted.logger import Logger
from twisted.python.failure import Failure

from kongtx.ratelimit.counters import CounterUnavailable, Hit, Outcome

__all__ = ["RedisCounters", "RedisSettings", "RedisPools"]

log = Logger()

# KEYS: the counters. ARGV: strict (1/0), then per key: limit, cost, expires.
# Returns {blocked index (0 = none, else 1-based), value, value, ...}.
_SCRIPT = """
local strict = ARGV[1] == '1'
local values = {}
local blocked = 0
for i, key in ipairs(KEYS) do
  local value = tonumber(redis.call('GET', key) or '0')
  values[i] = value
  if blocked == 0 then
    local limit = tonumber(ARGV[i * 3 - 1])
    local cost = tonumber(ARGV[i * 3])
    if (strict and value + cost > limit) or (not strict and cost > 0 and value >= limit) then
      blocked = i
    end
  end
end
if blocked == 0 then
  for i, key in ipairs(KEYS) do
    local cost = tonumber(ARGV[i * 3])
    if cost > 0 then
      values[i] = redis.call('INCRBY', key, cost)
      if values[i] == cost then
        redis.call('EXPIREAT', key, tonumber(ARGV[i * 3 + 1]))
      end
    end
  end
end
table.insert(values, 1, blocked)
return values
"""


class RedisSettings(NamedTuple):
    """Where the counters live (Kong's ``config.redis`` record)."""

    host: str
    port: int = 6379
    database: int = 0
    username: str | None = None
    password: str | None = None
    ssl: bool = False
    ssl_verify: bool = False
    server_name: str | None = None
    timeout: float = 2.0  # seconds: the bound of one call
    connect_timeout: float = 2.0  # seconds

    @classmethod
    def from_config(cls, redis: dict[str, Any]) -> RedisSettings:
        """From a plugin's ``redis`` record (``timeout`` in milliseconds)."""
        return cls(
            host=redis["host"],
            port=int(redis.get("port") or 6379),
            database=int(redis.get("database") or 0),
            username=redis.get("username") or None,
            password=redis.get("password") or None,
            ssl=bool(redis.get("ssl")),
            ssl_verify=bool(redis.get("ssl_verify")),
            server_name=redis.get("server_name") or None,
            timeout=max(_seconds(redis, name) for name in _CALL_TIMEOUTS),
            connect_timeout=_seconds(redis, "connect_timeout"),
        )


_CALL_TIMEOUTS = ("connect_timeout", "send_timeout", "read_timeout")


def _seconds(redis: dict[str, Any], name: str) -> float:
    """Kong's rule: a specific timeout (ms) when set, else ``timeout`` (default 2000 ms)."""
    value = redis.get(name)
    if value is None:
        value = redis.get("timeout")
    return float(2000 if value is None else value) / 1000.0


def _tls_options(settings: RedisSettings) -> Any:
    if not settings.ssl:
        return False
    from twisted.internet import ssl

    if settings.ssl_verify:
        return ssl.optionsForClientTLS(settings.server_name or settings.host)
    return ssl.ClientContextFactory()


class RedisCounters:
    """Counters in one Redis database.

    :param clock: ``IReactorTime`` for the call timeouts.
    :param settings: the server and credentials.
    :param poolsize: connections kept open.
    """

    def __init__(self, clock: Any, settings: RedisSettings, poolsize: int = 4) -> None:
        self.clock = clock
        self.settings = settings
        self.redis = txredisapi.lazyConnectionPool(
            host=settings.host,
            port=settings.port,
            dbid=settings.database,
            poolsize=poolsize,
            reconnect=True,
            password=settings.password,
            username=settings.username,
            ssl_context_factory=_tls_options(settings),
            connectTimeout=settings.connect_timeout,
            replyTimeout=settings.timeout,
            convertNumbers=True,
        )

    def hit(self, hits: Sequence[Hit], strict: bool) -> Deferred[Outcome]:
        """Run the script for ``hits``; fails with CounterUnavailable within the timeout."""
        args: list[Any] = ["1" if strict else "0"]
        for hit in hits:
            args += [repr(float(hit.limit)), hit.cost, hit.expires]
        d: Deferred[Any] = self.redis.eval(_SCRIPT, [hit.key for hit in hits], args)
        d.addTimeout(self.settings.timeout, self.clock)
        d.addCallbacks(_outcome, self._failed)
        return d

    def _failed(self, failure: Failure) -> Failure:
        where = f"{self.settings.host}:{self.settings.port}"
        if failure.check(TimeoutError):
            return Failure(CounterUnavailable(f"redis {where}: timed out"))
        return Failure(CounterUnavailable(f"redis {where}: {failure.getErrorMessage()}"))

    def close(self) -> Deferred[Any]:
        """Close the pool's connections."""
        return self.redis.disconnect()


def _outcome(reply: list[Any]) -> Outcome:
    return Outcome(int(reply[0]) - 1, tuple(int(v) for v in reply[1:]))


class RedisPools:
    """One :class:`RedisCounters` per distinct setting, shared by every plugin config."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self._pools: dict[RedisSettings, RedisCounters] = {}

    def get(self, settings: RedisSettings) -> RedisCounters:
        """The counters for ``settings`` (connecting lazily on first use)."""
        pool = self._pools.get(settings)
        if pool is None:
            pool = self._pools[settings] = RedisCounters(self.clock, settings)
        return pool

    def close(self) -> list[Deferred[Any]]:
        """Close every pool."""
        pools, self._pools = self._pools, {}
        return [pool.close() for pool in pools.values()]
