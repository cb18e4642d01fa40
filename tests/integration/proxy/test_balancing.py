"""Load balancing through the real gateway: algorithms, hashing, active health checks, health API."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

from tests.integration.harness import FRONTENDS, Reply, RunningGateway, gateway_and_upstream
from tests.support.upstream import Exchange, Upstream, start_upstream

UPSTREAM = "lb.test"
#: Balancing is front-end independent; these tests also run on the ``resource`` front-end.
both_frontends = pytest.mark.parametrize("frontend", FRONTENDS)


@pytest.fixture
def frontend() -> str:
    """The native front-end unless a test is marked :data:`both_frontends`."""
    return "native"


@pytest_twisted.async_yield_fixture
async def env(tmp_path, frontend):
    """A gateway and two upstream servers, ``a`` and ``b``.

    ``GET /who`` on either answers its own name; the loopback peer is trusted so
    ``X-Real-IP`` sets the client IP (for ``hash_on=ip``).
    """
    async with gateway_and_upstream(tmp_path, frontend, trusted_ips="127.0.0.1") as (gw, a):
        b = await start_upstream(reactor)
        try:
            for name, server in (("a", a), ("b", b)):
                server.route("/who", _answer_with(name))
            yield gw, {"a": a, "b": b}
        finally:
            await b.stop()


def _answer_with(name: str) -> Callable[[Exchange], None]:
    def handler(ex: Exchange) -> None:
        ex.respond(200, name.encode(), [("Content-Type", "text/plain")])

    return handler


def _target(server: Upstream) -> str:
    return f"127.0.0.1:{server.port}"


async def _balanced_service(
    gw: RunningGateway, upstream: dict[str, Any], targets: list[tuple[Upstream, int]]
) -> dict[str, Any]:
    """Create upstream ``lb.test`` with ``targets`` (server, weight) and a service + route ``/``."""
    reply = await gw.admin("POST", "/upstreams", {"name": UPSTREAM, **upstream})
    assert reply.status == 201, reply
    for server, weight in targets:
        body = {"target": _target(server), "weight": weight}
        created = await gw.admin("POST", f"/upstreams/{UPSTREAM}/targets", body)
        assert created.status == 201, created
    service = {"name": "lb", "host": UPSTREAM, "retries": 0}
    assert (await gw.admin("POST", "/services", service)).status == 201
    assert (await gw.admin("POST", "/services/lb/routes", {"paths": ["/"]})).status == 201
    return reply.json


async def _who(gw: RunningGateway, headers: dict[str, Any] | None = None) -> str:
    """Which server answered ``GET /who`` through the proxy."""
    reply = await gw.proxy("GET", "/who", headers=headers)
    assert reply.status == 200, reply
    return reply.body.decode()


async def _poll(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 5.0) -> None:
    """Re-run ``check`` every 0.05 s until it returns true; fail after ``timeout`` seconds."""
    deadline = reactor.seconds() + timeout
    while not await check():
        if reactor.seconds() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await deferLater(reactor, 0.05, lambda: None)


async def _target_health(gw: RunningGateway) -> dict[str, str]:
    reply = await gw.admin("GET", f"/upstreams/{UPSTREAM}/health")
    assert reply.status == 200, reply
    return {t["target"]: t["health"] for t in reply.json["data"]}


# -- round-robin ---------------------------------------------------------------------


@both_frontends
@pytest_twisted.ensureDeferred
async def test_weighted_round_robin_splits_by_weight(env):
    """Weights 100/300 split 40 requests exactly 10/30; a weight-0 target gets none."""
    gw, servers = env
    idle = await start_upstream(reactor)
    try:
        idle.route("/who", _answer_with("idle"))
        await _balanced_service(gw, {}, [(servers["a"], 100), (servers["b"], 300), (idle, 0)])
        answered = [await _who(gw) for _ in range(40)]
        assert Counter(answered) == {"a": 10, "b": 30}
        # smooth weighted round-robin interleaves: never more than three b's in a row
        assert "bbbb" not in "".join(answered)
        assert idle.requests == []
        health = await _target_health(gw)
        assert set(health) == {_target(servers["a"]), _target(servers["b"])}
    finally:
        await idle.stop()


# -- consistent hashing --------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_hash_on_header_is_sticky_and_spreads(env):
    """The same X-User value always reaches the same target; different values use both."""
    gw, servers = env
    await _balanced_service(
        gw,
        {"hash_on": "header", "hash_on_header": "X-User"},
        [(servers["a"], 100), (servers["b"], 100)],
    )
    placement: dict[str, str] = {}
    for user in (f"user-{i}" for i in range(24)):
        seen = {await _who(gw, {"X-User": user}) for _ in range(3)}
        assert len(seen) == 1, (user, seen)
        placement[user] = seen.pop()
    assert set(placement.values()) == {"a", "b"}
    # still the same placement after interleaving other values
    for user in reversed(list(placement)):
        assert await _who(gw, {"X-User": user}) == placement[user]


@pytest_twisted.ensureDeferred
async def test_hash_on_ip_uses_the_client_address(env):
    """hash_on=ip keys on the (real) client IP: one IP sticks, many IPs spread."""
    gw, servers = env
    await _balanced_service(gw, {"hash_on": "ip"}, [(servers["a"], 100), (servers["b"], 100)])
    placement: dict[str, str] = {}
    for i in range(24):
        ip = f"10.1.{i}.7"
        seen = {await _who(gw, {"X-Real-IP": ip}) for _ in range(3)}
        assert len(seen) == 1, (ip, seen)
        placement[ip] = seen.pop()
    assert set(placement.values()) == {"a", "b"}
    # without the header the peer 127.0.0.1 is the key: always one target
    assert len({await _who(gw) for _ in range(6)}) == 1


@pytest_twisted.ensureDeferred
async def test_hash_on_consumer_sticks_per_consumer(env):
    """hash_on=consumer keys on the authenticated consumer (key-auth)."""
    gw, servers = env
    await _balanced_service(gw, {"hash_on": "consumer"}, [(servers["a"], 100), (servers["b"], 100)])
    reply = await gw.admin("POST", "/plugins", {"name": "key-auth"})
    assert reply.status == 201, reply
    consumers = [f"c{i}" for i in range(24)]
    for name in consumers:
        assert (await gw.admin("POST", "/consumers", {"username": name})).status == 201
        created = await gw.admin("POST", f"/consumers/{name}/key-auth", {"key": f"key-{name}"})
        assert created.status == 201, created
    placement: dict[str, str] = {}
    for name in consumers:
        seen = {await _who(gw, {"apikey": f"key-{name}"}) for _ in range(3)}
        assert len(seen) == 1, (name, seen)
        placement[name] = seen.pop()
    assert set(placement.values()) == {"a", "b"}
    assert (await gw.proxy("GET", "/who")).status == 401


@both_frontends
@pytest_twisted.ensureDeferred
async def test_hash_on_cookie_sets_cookie_and_sticks(env):
    """hash_on=cookie: no cookie -> Set-Cookie with a UUID; sending it back sticks to one target."""
    gw, servers = env
    await _balanced_service(
        gw,
        {"hash_on": "cookie", "hash_on_cookie": "lb_id", "hash_on_cookie_path": "/app"},
        [(servers["a"], 100), (servers["b"], 100)],
    )
    sticky: dict[str, str] = {}
    for _ in range(24):
        first = await gw.proxy("GET", "/who")
        assert first.status == 200, first
        cookies = first.headers.get("set-cookie") or []
        assert len(cookies) == 1, first.headers
        name_value, *attributes = [part.strip() for part in cookies[0].split(";")]
        name, _, value = name_value.partition("=")
        assert name == "lb_id"
        assert _is_uuid(value), value
        assert attributes == ["Path=/app", "Same-Site=Lax", "HttpOnly"]
        assert value not in sticky
        # the generated value is what the first request was hashed on
        sticky[value] = first.body.decode()
        for _ in range(3):
            again = await gw.proxy("GET", "/who", headers={"Cookie": f"other=1; lb_id={value}"})
            assert again.body.decode() == sticky[value]
            assert "set-cookie" not in again.headers
    assert set(sticky.values()) == {"a", "b"}


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


# -- least-connections ---------------------------------------------------------------


class _Hold:
    """``GET /hold`` on each server parks the request until the test releases it."""

    def __init__(self, servers: dict[str, Upstream]) -> None:
        self.parked: dict[str, list[Exchange]] = {name: [] for name in servers}
        self._arrival: Deferred[str] | None = None
        for name, server in servers.items():
            server.route("/hold", self._park_for(name))

    def _park_for(self, name: str) -> Callable[[Exchange], None]:
        def park(ex: Exchange) -> None:
            self.parked[name].append(ex)
            if self._arrival is not None:
                arrival, self._arrival = self._arrival, None
                arrival.callback(name)

        return park

    async def send(self, gw: RunningGateway, pending: list[Deferred[Reply]]) -> str:
        """Send one ``GET /hold`` through the proxy; return the server it was parked on."""
        arrival: Deferred[str] = Deferred()
        self._arrival = arrival
        arrival.addTimeout(5, reactor)
        pending.append(Deferred.fromCoroutine(gw.proxy("GET", "/hold")))
        return await arrival

    def release(self, name: str) -> None:
        parked, self.parked[name] = self.parked[name], []
        for ex in parked:
            if ex.transport.connected:
                ex.respond(200, name.encode())


@both_frontends
@pytest_twisted.ensureDeferred
async def test_least_connections_prefers_the_idle_target(env):
    """Requests go to the target with fewer in flight; releasing one side draws new requests there."""
    gw, servers = env
    await _balanced_service(
        gw,
        {"algorithm": "least-connections"},
        [(servers["a"], 100), (servers["b"], 100)],
    )
    hold = _Hold(servers)
    pending: list[Deferred[Reply]] = []
    try:
        # in-flight counts stay balanced while nothing completes
        first = await hold.send(gw, pending)
        other = "b" if first == "a" else "a"
        assert await hold.send(gw, pending) == other
        placed = [await hold.send(gw, pending) for _ in range(4)]
        assert Counter(placed) == {"a": 2, "b": 2}
        # `first` is slow (3 in flight), `other` finishes: new requests go to `other` only
        hold.release(other)
        # completed requests do not count: plain requests keep landing on `other`
        assert [await _who(gw) for _ in range(4)] == [other] * 4
        assert [await hold.send(gw, pending) for _ in range(3)] == [other] * 3
        # with 3 + 3 in flight the next one may go either way; releasing `first` draws it there
        hold.release(first)
        assert [await hold.send(gw, pending) for _ in range(3)] == [first] * 3
    finally:
        hold.release("a")
        hold.release("b")
        replies = [await d for d in pending]
    assert [r.status for r in replies] == [200] * len(replies)


# -- active health checks ------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_active_checks_take_a_target_out_and_back(env):
    """A target whose /health answers 500 goes UNHEALTHY and gets no traffic; once fixed it returns."""
    gw, servers = env
    failing = {"a": False, "b": False}
    probes: Counter[str] = Counter()
    for name, server in servers.items():
        server.route("/health", _health_endpoint(name, failing, probes))
    checks = {
        "active": {
            "http_path": "/health",
            "timeout": 1,
            "healthy": {"interval": 0.1, "successes": 2},
            "unhealthy": {"interval": 0.1, "http_failures": 2},
        }
    }
    await _balanced_service(
        gw, {"healthchecks": checks}, [(servers["a"], 100), (servers["b"], 100)]
    )
    a, b = _target(servers["a"]), _target(servers["b"])
    assert await _target_health(gw) == {a: "HEALTHY", b: "HEALTHY"}
    await _poll(lambda: _probed(probes), "both targets to be probed")
    assert Counter([await _who(gw) for _ in range(4)]) == {"a": 2, "b": 2}

    failing["a"] = True
    await _poll(lambda: _health_is(gw, {a: "UNHEALTHY", b: "HEALTHY"}), "a to go UNHEALTHY")
    before = len(servers["a"].requests)
    assert [await _who(gw) for _ in range(6)] == ["b"] * 6
    assert all(r.path == "/health" for r in servers["a"].requests[before:])
    # the unhealthy target keeps being probed (unhealthy.interval)
    seen = probes["a"]
    await _poll(lambda: _more_probes(probes, "a", seen), "a to be probed while unhealthy")

    failing["a"] = False
    await _poll(lambda: _health_is(gw, {a: "HEALTHY", b: "HEALTHY"}), "a to be HEALTHY again")
    assert Counter([await _who(gw) for _ in range(4)]) == {"a": 2, "b": 2}


def _health_endpoint(
    name: str, failing: dict[str, bool], probes: Counter[str]
) -> Callable[[Exchange], None]:
    def handler(ex: Exchange) -> None:
        probes[name] += 1
        ex.respond(500 if failing[name] else 200, b"")

    return handler


async def _probed(probes: Counter[str]) -> bool:
    return probes["a"] > 0 and probes["b"] > 0


async def _more_probes(probes: Counter[str], name: str, seen: int) -> bool:
    return probes[name] > seen + 1


async def _health_is(gw: RunningGateway, expected: dict[str, str]) -> bool:
    return await _target_health(gw) == expected


# -- health endpoint -----------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_balancer_health_shape(env):
    """?balancer_health=1 reports the upstream's health, balancer health and per-host weights."""
    gw, servers = env
    checks = {"passive": {"unhealthy": {"http_failures": 1}}}
    created = await _balanced_service(
        gw, {"healthchecks": checks}, [(servers["a"], 100), (servers["b"], 300)]
    )
    a, b = _target(servers["a"]), _target(servers["b"])
    reply = await gw.admin("GET", f"/upstreams/{UPSTREAM}/health?balancer_health=1")
    assert reply.status == 200, reply
    body = reply.json
    assert set(body) == {"data", "next", "node_id"}
    assert body["next"] is None
    assert isinstance(body["node_id"], str) and body["node_id"]
    data = body["data"]
    assert set(data) == {"health", "balancer_health", "id", "details"}
    assert data["id"] == created["id"]
    assert data["health"] == data["balancer_health"] == "HEALTHY"
    details = data["details"]
    assert details["healthy"] is True
    assert details["weight"] == {"total": 400, "available": 400, "unavailable": 0}
    hosts = {f"{h['host']}:{h['port']}": h for h in details["hosts"]}
    assert set(hosts) == {a, b}
    port_b = servers["b"].port
    assert hosts[b]["nodeWeight"] == 300
    assert hosts[b]["weight"] == {"total": 300, "available": 300, "unavailable": 0}
    assert hosts[b]["addresses"] == [
        {"ip": "127.0.0.1", "port": port_b, "weight": 300, "healthy": True}
    ]
    # the same node answers both health views
    plain = (await gw.admin("GET", f"/upstreams/{UPSTREAM}/health")).json
    assert plain["node_id"] == body["node_id"]
    assert [t["target"] for t in plain["data"]] == [b, a]  # most recently created first
    assert plain["data"][0]["weight"] == 300
    assert plain["data"][0]["data"]["addresses"][0]["health"] == "HEALTHY"

    # one target down: the balancer stays healthy (threshold 0) with less weight available
    assert (await gw.admin("PUT", f"/upstreams/{UPSTREAM}/targets/{b}/unhealthy")).status == 204
    data = (await gw.admin("GET", f"/upstreams/{UPSTREAM}/health?balancer_health=1")).json["data"]
    assert data["balancer_health"] == "HEALTHY"
    assert data["details"]["weight"] == {"total": 400, "available": 100, "unavailable": 300}
    down = {f"{h['host']}:{h['port']}": h for h in data["details"]["hosts"]}[b]
    assert down["addresses"][0]["healthy"] is False
    assert down["weight"] == {"total": 300, "available": 0, "unavailable": 300}

    # every target down: the balancer is unhealthy and the proxy has no peer
    assert (await gw.admin("PUT", f"/upstreams/{UPSTREAM}/targets/{a}/unhealthy")).status == 204
    data = (await gw.admin("GET", f"/upstreams/{UPSTREAM}/health?balancer_health=1")).json["data"]
    assert data["health"] == data["balancer_health"] == "UNHEALTHY"
    assert data["details"]["healthy"] is False
    assert data["details"]["weight"]["available"] == 0
    assert (await gw.proxy("GET", "/who")).status == 503


@pytest_twisted.ensureDeferred
async def test_balancer_health_without_healthchecks(env):
    """With no health checks configured, health is HEALTHCHECKS_OFF but balancer_health is HEALTHY."""
    gw, servers = env
    await _balanced_service(gw, {}, [(servers["a"], 100)])
    data = (await gw.admin("GET", f"/upstreams/{UPSTREAM}/health?balancer_health=1")).json["data"]
    assert data["health"] == "HEALTHCHECKS_OFF"
    assert data["balancer_health"] == "HEALTHY"
    plain = (await gw.admin("GET", f"/upstreams/{UPSTREAM}/health")).json["data"]
    assert [t["health"] for t in plain] == ["HEALTHCHECKS_OFF"]
