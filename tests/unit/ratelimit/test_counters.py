"""The atomic step every counter store implements, and the in-process store."""

from __future__ import annotations

from twisted.internet.task import Clock

from kongtx.ratelimit.counters import Hit, LocalCounters, Outcome, apply_hits


def _hit(key: str, limit: float, cost: int = 1, expires: int = 60) -> Hit:
    return Hit(key, limit, cost, expires)


def test_strict_lets_exactly_the_limit_through():
    """Strict steps pass until value + cost would exceed the limit, then change nothing."""
    counters: dict[str, int] = {}
    results = [apply_hits(counters, [_hit("a", 3)], True) for _ in range(5)]
    assert [r.blocked for r in results] == [-1, -1, -1, 0, 0]
    assert [r.values for r in results] == [(1,), (2,), (3,), (3,), (3,)]
    assert counters == {"a": 3}


def test_a_refused_step_moves_no_counter():
    """Blocked by the second's limit, the request does not use the hour's quota."""
    counters = {"sec": 1, "hour": 5}
    outcome = apply_hits(counters, [_hit("sec", 1), _hit("hour", 100)], True)
    assert outcome == Outcome(0, (1, 5))
    assert counters == {"sec": 1, "hour": 5}


def test_strict_cost_larger_than_remaining_is_refused():
    """A cost of 3 with 2 left is refused in strict mode."""
    counters = {"a": 8}
    assert apply_hits(counters, [_hit("a", 10, cost=3)], True).blocked == 0
    assert apply_hits(counters, [_hit("a", 10, cost=2)], True) == Outcome(-1, (10,))


def test_lenient_blocks_only_when_no_quota_is_left():
    """Kong's response rule: usage may overshoot once; with nothing left a positive cost is refused."""
    counters = {"a": 8}
    assert apply_hits(counters, [_hit("a", 10, cost=5)], False) == Outcome(-1, (13,))
    assert apply_hits(counters, [_hit("a", 10, cost=1)], False).blocked == 0
    assert apply_hits(counters, [_hit("a", 10, cost=0)], False) == Outcome(-1, (13,))


def test_cost_zero_reads_without_creating():
    """A read (cost 0) reports 0 for an unknown counter and does not create it."""
    counters: dict[str, int] = {}
    assert apply_hits(counters, [_hit("a", 10, cost=0)], False) == Outcome(-1, (0,))
    assert counters == {}


def test_local_counters_answer_synchronously_and_drop_ended_windows():
    """LocalCounters returns an Outcome (no Deferred) and frees counters once their window ended."""
    clock = Clock()
    clock.advance(1000)
    store = LocalCounters(clock)
    outcome = store.hit([_hit("w1", 2, expires=1060), _hit("h1", 5, expires=4600)], True)
    assert outcome == Outcome(-1, (1, 1))
    assert len(store) == 2
    clock.advance(59)
    store.hit([_hit("w1", 2, expires=1060)], True)
    assert store.values == {"w1": 2, "h1": 1}
    clock.advance(1)  # t = 1060: w1's window ended
    store.hit([_hit("w2", 2, expires=1120)], True)
    assert store.values == {"h1": 1, "w2": 1}
    clock.advance(4000)
    store.hit([_hit("w3", 2, expires=5200)], True)
    assert store.values == {"w3": 1}


def test_redis_settings_follow_kongs_timeouts():
    """timeout (ms) stands for connect/send/read unless one is set; a call gets the longest."""
    from kongtx.ratelimit.redis import RedisSettings

    plain = RedisSettings.from_config({"host": "h", "timeout": 500})
    assert (plain.timeout, plain.connect_timeout, plain.port, plain.database) == (0.5, 0.5, 6379, 0)
    split = RedisSettings.from_config(
        {"host": "h", "timeout": 500, "connect_timeout": 100, "read_timeout": 3000}
    )
    assert (split.timeout, split.connect_timeout) == (3.0, 0.1)
    assert RedisSettings.from_config({"host": "h"}).timeout == 2.0
