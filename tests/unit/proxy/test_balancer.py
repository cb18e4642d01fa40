"""Unit tests for kongtx.proxy.balancer: algorithms, health counters, health JSON."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest
from twisted.internet.task import Clock

from kongtx.proxy.balancer import (
    Balancer,
    NoHealthyTarget,
    UnknownAddress,
    hash_cookie_header,
    hash_input,
    parse_target,
)
from kongtx.proxy.dns import DNSError, ResolvedAddress
from kongtx.schema import registry

UPSTREAMS = registry.get("upstreams")


def upstream_row(**overrides: Any) -> dict[str, Any]:
    """An upstream row in Kong's JSON shape with every default filled in (by the schema itself)."""
    row = UPSTREAMS.fill_defaults(UPSTREAMS.process_input({"name": "svc.upstream"}, "insert"), 1)
    row["id"] = "u-1"
    row.update(overrides)
    return row


def with_checks(
    row: dict[str, Any],
    section: str,
    healthy: dict[str, Any] | None = None,
    unhealthy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Set counters/intervals in ``healthchecks.<section>``."""
    row["healthchecks"][section]["healthy"].update(healthy or {})
    row["healthchecks"][section]["unhealthy"].update(unhealthy or {})
    return row


def target_row(
    target: str, weight: int = 100, n: int = 0, upstream_id: str = "u-1"
) -> dict[str, Any]:
    """A target row in Kong's JSON shape."""
    return {
        "id": f"t-{target}",
        "target": target,
        "weight": weight,
        "upstream": {"id": upstream_id},
        "created_at": 1000.0 + n,
        "updated_at": 1000.0 + n,
        "tags": None,
    }


def ctx(**kw: Any) -> SimpleNamespace:
    """A duck-typed request view for hash_input."""
    base: dict[str, Any] = {
        "consumer_id": None,
        "credential_id": None,
        "client_ip": "10.1.1.1",
        "headers": {},
        "cookies": {},
        "path": "/p",
        "query": {},
        "uri_captures": {},
    }
    base.update(kw)
    return SimpleNamespace(**base)


def picks(balancer: Balancer, n: int, **kw: Any) -> Counter[str]:
    """Select ``n`` times and count picks by ``ip:port``."""
    return Counter(f"{a.ip}:{a.port}" for a in (balancer.select(**kw) for _ in range(n)))


def test_parse_target_forms() -> None:
    """Target strings split into host and port, IPv6 in brackets, port 8000 by default."""
    assert parse_target("10.0.0.1:80") == ("10.0.0.1", 80)
    assert parse_target("example.com") == ("example.com", 8000)
    assert parse_target("[::1]:81") == ("::1", 81)
    assert parse_target("::1") == ("::1", 8000)


def test_round_robin_follows_weights() -> None:
    """Weighted round-robin hands out picks exactly in proportion to weights."""
    b = Balancer(
        upstream_row(), [target_row("10.0.0.1:80", 300), target_row("10.0.0.2:80", 100)], Clock()
    )
    assert picks(b, 400) == {"10.0.0.1:80": 300, "10.0.0.2:80": 100}


def test_round_robin_is_smooth() -> None:
    """Smooth WRR interleaves: a 2:1 split never picks the heavy peer three times in a row."""
    b = Balancer(
        upstream_row(), [target_row("10.0.0.1:80", 200), target_row("10.0.0.2:80", 100)], Clock()
    )
    seq = "".join("a" if b.select().ip == "10.0.0.1" else "b" for _ in range(30))
    assert "aaa" not in seq and seq.count("b") == 10


def test_weight_zero_gets_no_traffic() -> None:
    """A target with weight 0 is never selected."""
    b = Balancer(
        upstream_row(), [target_row("10.0.0.1:80", 0), target_row("10.0.0.2:80", 10)], Clock()
    )
    assert picks(b, 50) == {"10.0.0.2:80": 50}


def test_all_weight_zero_raises_no_healthy_target() -> None:
    """An upstream whose targets all have weight 0 has no peer."""
    b = Balancer(upstream_row(), [target_row("10.0.0.1:80", 0)], Clock())
    with pytest.raises(NoHealthyTarget, match="failure to get a peer from the ring-balancer"):
        b.select()


def test_no_targets_raises_no_healthy_target() -> None:
    """An upstream without targets has no peer."""
    with pytest.raises(NoHealthyTarget):
        Balancer(upstream_row(), [], Clock()).select()


def test_exclude_skips_tried_addresses() -> None:
    """Retries skip excluded addresses while others are available."""
    b = Balancer(
        upstream_row(),
        [target_row("10.0.0.1:80"), target_row("10.0.0.2:80"), target_row("10.0.0.3:80")],
        Clock(),
    )
    first = b.select()
    second = b.select(exclude={first})
    third = b.select(exclude={first, second})
    assert len({first, second, third}) == 3


def test_exclude_everything_falls_back_to_excluded() -> None:
    """With a single target, a retry reuses it rather than failing."""
    b = Balancer(upstream_row(), [target_row("10.0.0.1:80")], Clock())
    a = b.select()
    assert b.select(exclude={a}) == a


def test_unhealthy_address_is_skipped() -> None:
    """A manually unhealthy target gets no traffic until it is healthy again."""
    b = Balancer(upstream_row(), [target_row("10.0.0.1:80"), target_row("10.0.0.2:80")], Clock())
    b.set_health("10.0.0.1:80", None, False)
    assert picks(b, 20) == {"10.0.0.2:80": 20}
    b.set_health("10.0.0.1:80", None, True)
    assert picks(b, 20) == {"10.0.0.1:80": 10, "10.0.0.2:80": 10}


def test_all_unhealthy_raises() -> None:
    """With every address unhealthy the balancer is unhealthy (threshold 0 is strict)."""
    b = Balancer(upstream_row(), [target_row("10.0.0.1:80")], Clock())
    b.set_health("10.0.0.1:80", "10.0.0.1:80", False)
    assert not b.healthy
    with pytest.raises(NoHealthyTarget):
        b.select()


def test_threshold_marks_upstream_unhealthy() -> None:
    """Healthy weight share at or below healthchecks.threshold makes the whole upstream unhealthy."""
    row = upstream_row()
    row["healthchecks"]["threshold"] = 50
    b = Balancer(
        row,
        [
            target_row("10.0.0.1:80", 100),
            target_row("10.0.0.2:80", 100),
            target_row("10.0.0.3:80", 200),
        ],
        Clock(),
    )
    b.set_health("10.0.0.1:80", None, False)  # 75% healthy
    assert b.healthy and b.select()
    b.set_health("10.0.0.3:80", None, False)  # 25% healthy
    assert not b.healthy
    with pytest.raises(NoHealthyTarget):
        b.select()


def _ring(n: int, **kw: Any) -> Balancer:
    row = upstream_row(
        algorithm="consistent-hashing", hash_on="header", hash_on_header="x-key", **kw
    )
    return Balancer(row, [target_row(f"10.0.0.{i}:80", n=i) for i in range(1, n + 1)], Clock())


def test_consistent_hashing_is_deterministic() -> None:
    """The same hash value always lands on the same address."""
    b = _ring(4)
    for key in ("alice", "bob", "carol"):
        assert len({b.select(key) for _ in range(5)}) == 1


def test_consistent_hashing_spreads_by_weight() -> None:
    """Many keys spread over the ring roughly in proportion to weights."""
    row = upstream_row(algorithm="consistent-hashing")
    b = Balancer(row, [target_row("10.0.0.1:80", 100), target_row("10.0.0.2:80", 300)], Clock())
    counts = Counter(b.select(f"user-{i}").ip for i in range(8000))
    assert 1500 < counts["10.0.0.1"] < 2500 and 5500 < counts["10.0.0.2"] < 6500


def test_consistent_hashing_stable_when_target_added() -> None:
    """Adding a fifth target keeps most keys in place; most moved keys go to the new target."""
    b = _ring(4)
    keys = [f"key-{i}" for i in range(4000)]
    before = {k: b.select(k) for k in keys}
    b.update(b.upstream, [target_row(f"10.0.0.{i}:80", n=i) for i in range(1, 6)])
    after = {k: b.select(k) for k in keys}
    moved = [k for k in keys if before[k] != after[k]]
    to_new = sum(1 for k in moved if after[k].ip == "10.0.0.5")
    # ideal is 20%; the ring's points are re-proportioned, so a little more moves
    assert 0.15 < len(moved) / len(keys) < 0.35
    assert to_new / len(moved) > 0.6


def test_consistent_hashing_stable_when_target_removed() -> None:
    """Removing a target moves its keys and leaves most other keys where they were."""
    b = _ring(5)
    keys = [f"key-{i}" for i in range(4000)]
    before = {k: b.select(k) for k in keys}
    b.update(b.upstream, [target_row(f"10.0.0.{i}:80", n=i) for i in range(1, 5)])
    kept = [k for k in keys if before[k].ip != "10.0.0.5"]
    assert all(b.select(k).ip != "10.0.0.5" for k in keys)
    collateral = sum(1 for k in kept if b.select(k) != before[k])
    assert collateral / len(kept) < 0.15


def test_consistent_hashing_skips_unhealthy_and_returns() -> None:
    """Keys of an unhealthy address move elsewhere and come back when it recovers."""
    b = _ring(3)
    keys = [f"k{i}" for i in range(300)]
    before = {k: b.select(k) for k in keys}
    b.set_health("10.0.0.2:80", None, False)
    assert all(b.select(k).ip != "10.0.0.2" for k in keys)
    assert all(b.select(k) == before[k] for k in keys if before[k].ip != "10.0.0.2")
    b.set_health("10.0.0.2:80", None, True)
    assert {k: b.select(k) for k in keys} == before


def test_consistent_hashing_without_value_round_robins() -> None:
    """No hash value (inputs missing): consistent-hashing falls back to round-robin."""
    b = _ring(2)
    assert picks(b, 10, hash_value=None) == {"10.0.0.1:80": 5, "10.0.0.2:80": 5}


def test_least_connections_prefers_fewest_active() -> None:
    """Least-connections picks the address with the fewest active connections per weight."""
    row = upstream_row(algorithm="least-connections")
    b = Balancer(row, [target_row("10.0.0.1:80", 100), target_row("10.0.0.2:80", 100)], Clock())
    first = b.select()
    b.acquire(first)
    second = b.select()
    assert second != first
    b.acquire(second)
    b.acquire(second)
    assert b.select() == first
    b.release(second)
    b.release(second)
    b.acquire(first)
    assert b.select() == second


def test_least_connections_weighted() -> None:
    """With connections held open, a weight-300 address carries three times the load."""
    row = upstream_row(algorithm="least-connections")
    b = Balancer(row, [target_row("10.0.0.1:80", 300), target_row("10.0.0.2:80", 100)], Clock())
    held = Counter()
    for _ in range(400):
        a = b.select()
        b.acquire(a)
        held[a.ip] += 1
    assert held == {"10.0.0.1": 300, "10.0.0.2": 100}


def test_latency_prefers_faster_address() -> None:
    """The latency algorithm sends traffic to the address with the lower EWMA."""
    clock = Clock()
    row = upstream_row(algorithm="latency")
    b = Balancer(row, [target_row("10.0.0.1:80"), target_row("10.0.0.2:80")], clock)
    a1, a2 = b.select(), b.select()
    assert a1 != a2
    for a, latency in ((a1, 0.5), (a2, 0.01)):
        b.acquire(a)
        b.release(a, latency=latency)
    assert picks(b, 10) == {f"{a2.ip}:{a2.port}": 10}


def test_passive_http_failures_mark_unhealthy() -> None:
    """passive.unhealthy.http_failures consecutive failures mark an address unhealthy."""
    # the success counter must be enabled for successes to reset failures (lua-resty-healthcheck)
    row = with_checks(
        upstream_row(), "passive", healthy={"successes": 5}, unhealthy={"http_failures": 3}
    )
    b = Balancer(row, [target_row("10.0.0.1:80"), target_row("10.0.0.2:80")], Clock())
    a = b.select()
    b.report(a, status=500)
    b.report(a, status=500)
    b.report(a, status=200)  # a success resets the failure counter
    b.report(a, status=500)
    b.report(a, status=503)
    assert b.is_healthy(a)
    b.report(a, status=429)
    assert not b.is_healthy(a)
    assert all(b.select() != a for _ in range(5))


def test_failures_accumulate_when_success_counter_disabled() -> None:
    """With healthy.successes = 0 successes are not counted, so failures are not reset."""
    row = with_checks(upstream_row(), "passive", unhealthy={"http_failures": 2})
    b = Balancer(row, [target_row("10.0.0.1:80"), target_row("10.0.0.2:80")], Clock())
    a = b.select()
    b.report(a, status=500)
    b.report(a, status=200)
    b.report(a, status=500)
    assert not b.is_healthy(a)


def test_passive_tcp_and_timeout_counters() -> None:
    """TCP failures and timeouts have their own thresholds; 0 disables a counter."""
    row = with_checks(upstream_row(), "passive", unhealthy={"tcp_failures": 2, "timeouts": 0})
    b = Balancer(row, [target_row("10.0.0.1:80"), target_row("10.0.0.2:80")], Clock())
    a = b.select()
    for _ in range(10):
        b.report(a, timeout=True)
    assert b.is_healthy(a)
    b.report(a, tcp_failure=True)
    b.report(a, tcp_failure=True)
    assert not b.is_healthy(a)


def test_passive_ignores_unlisted_status() -> None:
    """A status in neither list (e.g. 404 for passive checks) counts for nothing."""
    row = with_checks(upstream_row(), "passive", unhealthy={"http_failures": 1})
    b = Balancer(row, [target_row("10.0.0.1:80")], Clock())
    a = b.select()
    b.report(a, status=404)
    assert b.is_healthy(a)


def test_passive_successes_restore_health() -> None:
    """passive.healthy.successes successes bring a (manually) unhealthy address back."""
    row = with_checks(upstream_row(), "passive", healthy={"successes": 2})
    b = Balancer(row, [target_row("10.0.0.1:80")], Clock())
    b.set_health("10.0.0.1:80", None, False)
    a = b.probe_addresses(False)[0]
    b.report(a, status=200)
    assert not b.is_healthy(a)
    b.report(a, status=201)
    assert b.is_healthy(a)


def test_manual_health_of_one_address() -> None:
    """set_health with an address only changes that address of the target."""
    b = Balancer(
        upstream_row(),
        [target_row("svc.local:80")],
        Clock(),
        {"svc.local:80": (ResolvedAddress("10.0.0.7", 80), ResolvedAddress("10.0.0.8", 80))},
    )
    b.set_health("svc.local:80", "10.0.0.7:80", False)
    assert picks(b, 6) == {"10.0.0.8:80": 6}
    b.set_health("svc.local:80", "10.0.0.7", True)  # port defaults to the target's
    assert picks(b, 6) == {"10.0.0.7:80": 3, "10.0.0.8:80": 3}


def test_manual_health_unknown_target() -> None:
    """Unknown targets and addresses are reported, not ignored."""
    b = Balancer(upstream_row(), [target_row("10.0.0.1:80")], Clock())
    with pytest.raises(UnknownAddress):
        b.set_health("10.9.9.9:80", None, False)
    with pytest.raises(UnknownAddress):
        b.set_health("10.0.0.1:80", "10.0.0.2:80", False)


def test_update_keeps_health_of_unchanged_targets() -> None:
    """A configuration update keeps the health of addresses that are still present."""
    b = Balancer(upstream_row(), [target_row("10.0.0.1:80"), target_row("10.0.0.2:80")], Clock())
    b.set_health("10.0.0.1:80", None, False)
    b.update(upstream_row(), [target_row("10.0.0.1:80"), target_row("10.0.0.3:80")])
    assert picks(b, 4) == {"10.0.0.3:80": 4}


def test_srv_answers_give_port_and_weight() -> None:
    """SRV answers override the target's port and weight (weight 0 becomes 1)."""
    answers = (
        ResolvedAddress("10.0.0.1", 9001, 30, 1),
        ResolvedAddress("10.0.0.2", 9002, 10, 1),
        ResolvedAddress("10.0.0.3", 9003, 0, 1),
    )
    b = Balancer(upstream_row(), [target_row("svc.srv:80")], Clock(), {"svc.srv:80": answers})
    counts = picks(b, 41)
    assert counts == {"10.0.0.1:9001": 30, "10.0.0.2:9002": 10, "10.0.0.3:9003": 1}
    assert b.select().hostname == "svc.srv"


def test_hostname_target_keeps_addresses_without_new_answers() -> None:
    """An update without DNS answers for a hostname target keeps the previous addresses."""
    b = Balancer(
        upstream_row(),
        [target_row("svc.local:80")],
        Clock(),
        {"svc.local:80": (ResolvedAddress("10.0.0.7", 80),)},
    )
    b.update(upstream_row(), [target_row("svc.local:80")])
    assert b.select().ip == "10.0.0.7"


def _health_row() -> dict[str, Any]:
    return with_checks(upstream_row(), "passive", unhealthy={"tcp_failures": 1})


def test_health_json_target_shapes() -> None:
    """Health lists active targets newest first with HEALTHY/UNHEALTHY/DNS_ERROR per Kong."""
    rows = [
        target_row("10.0.0.1:80", n=1),
        target_row("10.0.0.2:80", n=2),
        target_row("bad.name:80", n=3),
        target_row("10.0.0.9:80", 0, n=4),
    ]
    b = Balancer(
        _health_row(), rows, Clock(), {"bad.name:80": DNSError("bad.name", "3 name error")}
    )
    b.set_health("10.0.0.2:80", None, False)
    body = b.health_json(False, "node-1")
    assert body["node_id"] == "node-1" and body["next"] is None
    assert [(t["target"], t["health"]) for t in body["data"]] == [
        ("bad.name:80", "DNS_ERROR"),
        ("10.0.0.2:80", "UNHEALTHY"),
        ("10.0.0.1:80", "HEALTHY"),
    ]
    first = body["data"][2]
    assert first["id"] == "t-10.0.0.1:80" and first["weight"] == 100
    assert first["data"]["addresses"] == [
        {"ip": "10.0.0.1", "port": 80, "weight": 100, "health": "HEALTHY"}
    ]
    assert first["data"]["weight"] == {"total": 100, "unavailable": 0, "available": 100}
    assert body["data"][1]["data"]["weight"] == {"total": 100, "unavailable": 100, "available": 0}
    assert body["data"][0]["data"]["addresses"] == []


def test_health_json_healthchecks_off() -> None:
    """Without health checks configured addresses report HEALTHCHECKS_OFF."""
    b = Balancer(upstream_row(), [target_row("10.0.0.1:80")], Clock())
    body = b.health_json(False, "n")
    assert body["data"][0]["health"] == "HEALTHCHECKS_OFF"
    assert body["data"][0]["data"]["addresses"][0]["health"] == "HEALTHCHECKS_OFF"
    bal = b.health_json(True, "n")["data"]
    assert bal["health"] == "HEALTHCHECKS_OFF" and bal["balancer_health"] == "HEALTHY"


def test_health_json_balancer_health() -> None:
    """balancer_health=1 reports the whole upstream with weight details."""
    row = _health_row()
    b = Balancer(row, [target_row("10.0.0.1:80"), target_row("10.0.0.2:80", 300)], Clock())
    b.set_health("10.0.0.1:80", None, False)
    body = b.health_json(True, "n")
    data = body["data"]
    assert data["health"] == "HEALTHY" and data["balancer_health"] == "HEALTHY"
    assert data["id"] == "u-1"
    assert data["details"]["weight"] == {"total": 400, "unavailable": 100, "available": 300}
    assert data["details"]["healthy"] is True
    host = data["details"]["hosts"][0]
    assert host["host"] == "10.0.0.1" and host["port"] == 80 and host["nodeWeight"] == 100
    assert host["addresses"] == [{"ip": "10.0.0.1", "port": 80, "weight": 100, "healthy": False}]
    b.set_health("10.0.0.2:80", None, False)
    data = b.health_json(True, "n")["data"]
    assert data["health"] == "UNHEALTHY" and data["balancer_health"] == "UNHEALTHY"


@pytest.mark.parametrize(
    "upstream, request_view, expected",
    [
        ({"hash_on": "consumer"}, {"consumer_id": "c1", "credential_id": "k1"}, "c1"),
        ({"hash_on": "consumer"}, {"credential_id": "k1"}, "k1"),
        ({"hash_on": "ip"}, {}, "10.1.1.1"),
        ({"hash_on": "header", "hash_on_header": "X-Key"}, {"headers": {"X-Key": "h"}}, "h"),
        ({"hash_on": "cookie", "hash_on_cookie": "sess"}, {"cookies": {"sess": "abc"}}, "abc"),
        ({"hash_on": "path"}, {}, "/p"),
        ({"hash_on": "query_arg", "hash_on_query_arg": "q"}, {"query": {"q": "v"}}, "v"),
        ({"hash_on": "query_arg", "hash_on_query_arg": "q"}, {"query": {"q": ["b", "a"]}}, "a,b"),
        (
            {"hash_on": "uri_capture", "hash_on_uri_capture": "id"},
            {"uri_captures": {"id": "7"}},
            "7",
        ),
        ({"hash_on": "header", "hash_on_header": "X-Key", "hash_fallback": "ip"}, {}, "10.1.1.1"),
        (
            {
                "hash_on": "header",
                "hash_on_header": "X-Key",
                "hash_fallback": "query_arg",
                "hash_fallback_query_arg": "q",
            },
            {"query": {"q": "fb"}},
            "fb",
        ),
        ({"hash_on": "header", "hash_on_header": "X-Key", "hash_fallback": "none"}, {}, None),
        ({"hash_on": "none"}, {}, None),
    ],
)
def test_hash_input(
    upstream: dict[str, Any], request_view: dict[str, Any], expected: str | None
) -> None:
    """hash_input reads the configured request part, then the fallback, else None."""
    assert hash_input(upstream_row(**upstream), ctx(**request_view)) == expected


def test_hash_cookie_header() -> None:
    """The generated hash cookie carries Kong's attributes."""
    row = upstream_row(hash_on="cookie", hash_on_cookie="sess", hash_on_cookie_path="/api")
    assert hash_cookie_header(row, "u1") == "sess=u1; Path=/api; Same-Site=Lax; HttpOnly"
