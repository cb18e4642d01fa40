"""Kong's ring-balancer, sans-IO: target selection and per-address health.

A :class:`Balancer` is built from one upstream row and its target rows (Kong's
JSON shapes) plus the DNS answers for hostname targets, and lives across
configuration snapshots: :meth:`Balancer.update` swaps in new rows while
keeping the health state and counters of addresses that did not change.

Algorithms: ``round-robin`` (smooth weighted, as nginx), ``consistent-hashing``
(ketama ring of ``slots`` points, walking past unhealthy addresses, round-robin
when there is no hash value), ``least-connections`` (fewest active per weight;
callers :meth:`~Balancer.acquire` / :meth:`~Balancer.release`) and ``latency``
(peak EWMA of response times fed through :meth:`~Balancer.release`).
"""
from __future__ import annotations

import bisect
import hashlib
import math
import zlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from twisted.logger import Logger

from kongtx.proxy.dns import ResolvedAddress, is_ip

__all__ = [
    "Address",
    "Balancer",
    "NoHealthyTarget",
    "UnknownAddress",
    "hash_cookie_header",
    "hash_input",
    "parse_target",
]

_log = Logger()
_EWMA_DECAY = 10.0  # seconds, Kong's latency algorithm
_SRV_ZERO_WEIGHT = 1  # an SRV weight of 0 still gets a minimal share (Kong)


class NoHealthyTarget(Exception):
    """No address can take the request; the core answers 503 (Kong's message below)."""

    def __init__(self, upstream: str = "") -> None:
        super().__init__("failure to get a peer from the ring-balancer")
        self.upstream = upstream


class UnknownAddress(LookupError):
    """A manual health change names a target or address the balancer does not have."""


@dataclass(frozen=True)
class Address:
    """A selected peer: connect to ``ip:port``; ``hostname`` is the target's host."""

    ip: str
    port: int
    target_id: str | None
    target: str
    hostname: str


def parse_target(target: str, default_port: int = 8000) -> tuple[str, int]:
    """Split Kong's ``host:port`` / ``[v6]:port`` target string (``default_port`` if absent)."""
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if target.count(":") == 1:
        host, _, port = target.partition(":")
        return host, int(port)
    return target, default_port  # no port, or a bare IPv6 literal


class _Addr:
    """Mutable per-address state (health counters, connections, latency)."""

    __slots__ = (
        "active",
        "address",
        "available",
        "current",
        "dns_weight",
        "ewma",
        "ewma_at",
        "http_failures",
        "successes",
        "tcp_failures",
        "timeouts",
        "weight",
    )

    def __init__(self, address: Address, weight: int) -> None:
        self.address = address
        self.weight = weight
        self.dns_weight: int | None = None
        self.available = True
        self.successes = self.tcp_failures = self.timeouts = self.http_failures = 0
        self.active = 0
        self.ewma = 0.0
        self.ewma_at = 0.0
        self.current = 0

    def reset_counters(self) -> None:
        self.successes = self.tcp_failures = self.timeouts = self.http_failures = 0


class _Target:
    __slots__ = ("addrs", "dns", "hostname", "port", "row", "target", "weight")

    def __init__(self, row: Mapping[str, Any], dns: str) -> None:
        self.row = row
        self.target = row["target"]
        self.hostname, self.port = parse_target(self.target)
        self.weight = int(row.get("weight", 100))
        self.addrs: list[_Addr] = []
        self.dns = dns  # record type used ("A", "SRV", ...) or the DNS error message


@dataclass(frozen=True)
class _Checks:
    """One health-check section (active or passive) compiled for fast lookups."""

    healthy_statuses: frozenset[int]
    unhealthy_statuses: frozenset[int]
    successes: int
    tcp_failures: int
    timeouts: int
    http_failures: int

    @classmethod
    def from_row(cls, section: Mapping[str, Any] | None) -> _Checks:
        section = section or {}
        healthy = section.get("healthy") or {}
        unhealthy = section.get("unhealthy") or {}
        return cls(frozenset(healthy.get("http_statuses") or ()),
                   frozenset(unhealthy.get("http_statuses") or ()),
                   int(healthy.get("successes") or 0), int(unhealthy.get("tcp_failures") or 0),
                   int(unhealthy.get("timeouts") or 0), int(unhealthy.get("http_failures") or 0))


class Balancer:
    """Select addresses of one upstream and track their health (no I/O).

    :param upstream_row: the upstream (Kong JSON).
    :param target_rows: its targets (Kong JSON, ``target`` is ``host:port``).
    :param clock: ``IReactorTime`` (latency decay).
    :param addresses_by_target: DNS answers for hostname targets, see :meth:`update`.
    """

    def __init__(self, upstream_row: Mapping[str, Any], target_rows: Iterable[Mapping[str, Any]],
                 clock: Any, addresses_by_target: Mapping[str, Any] | None = None) -> None:
        self._clock = clock
        self._targets: list[_Target] = []
        self._state: dict[tuple[str, str, int], _Addr] = {}
        self._addrs: list[_Addr] = []
        self._points: list[int] = []
        self._owners: list[_Addr] = []
        self._rr_next = 0
        self.healthy = False
        self.total_weight = 0
        self.unavailable_weight = 0
        #: callables ``(address, healthy)`` told about every health transition
        self.listeners: list[Callable[[Address, bool], None]] = []
        self.update(upstream_row, target_rows, addresses_by_target)

    # -- configuration ----------------------------------------------------

    def update(self, upstream_row: Mapping[str, Any], target_rows: Iterable[Mapping[str, Any]],
               addresses_by_target: Mapping[str, Any] | None = None) -> None:
        """Swap in new rows, keeping the state of addresses that are still there.

        :param addresses_by_target: ``{target string: answers}`` where answers is a
            sequence of :class:`~kongtx.proxy.dns.ResolvedAddress`, or a
            ``DNSError``/``None`` meaning resolution failed (``DNS_ERROR``). A
            hostname target missing from the mapping keeps its previous addresses.
            IP targets need no entry.
        """
        addresses_by_target = addresses_by_target or {}
        self.upstream = upstream_row
        self.name: str = upstream_row.get("name") or ""
        self.id: str | None = upstream_row.get("id")
        self.algorithm: str = upstream_row.get("algorithm") or "round-robin"
        self.slots = int(upstream_row.get("slots") or 10000)
        checks = upstream_row.get("healthchecks") or {}
        self.active = checks.get("active") or {}
        self._active = _Checks.from_row(self.active)
        self._passive = _Checks.from_row(checks.get("passive"))
        self.threshold = float(checks.get("threshold") or 0)
        a_h = (self.active.get("healthy") or {}).get("interval") or 0
        a_u = (self.active.get("unhealthy") or {}).get("interval") or 0
        p = self._passive
        self.uses_healthchecks = bool(a_h or a_u or p.tcp_failures or p.timeouts or p.http_failures)
        self.uses_active_checks = bool(a_h or a_u)

        previous = {t.target: t for t in self._targets}
        old_state, self._state = self._state, {}
        targets = []
        for row in target_rows:
            target = _Target(row, "")
            answers = addresses_by_target.get(target.target, _MISSING)
            if is_ip(target.hostname):
                answers = (ResolvedAddress(target.hostname.strip("[]"), target.port),)
            elif answers is _MISSING:
                prev = previous.get(target.target)
                target.dns = prev.dns if prev is not None else "unresolved"
                answers = tuple(ResolvedAddress(a.address.ip, a.address.port, a.dns_weight)
                                for a in prev.addrs) if prev is not None else ()
            elif answers is None or isinstance(answers, Exception):
                target.dns = str(answers) if answers is not None else "name resolution failed"
                answers = ()
            if not target.dns:
                target.dns = "SRV" if any(a.weight is not None for a in answers) else \
                    ("AAAA" if any(":" in a.ip for a in answers) else "A")
            for ans in answers:
                key = (target.target, ans.ip, ans.port)
                if key in self._state:
                    continue
                if target.weight == 0:
                    weight = 0
                elif ans.weight is not None:
                    weight = ans.weight or _SRV_ZERO_WEIGHT
                else:
                    weight = target.weight
                address = Address(ans.ip, ans.port, row.get("id"), target.target, target.hostname)
                st = old_state.get(key)
                if st is None:
                    st = _Addr(address, weight)
                elif st.address != address:
                    st.address = address
                st.weight, st.dns_weight = weight, ans.weight
                target.addrs.append(st)
                self._state[key] = st
            targets.append(target)
        self._targets = targets
        self._addrs = [a for t in targets for a in t.addrs if a.weight > 0]
        for st in self._addrs:
            st.current = 0
        self._rr_next = 0
        self._build_ring()
        self._update_status()

    def _build_ring(self) -> None:
        self._points, self._owners = [], []
        if self.algorithm != "consistent-hashing" or not self._addrs:
            return
        total = sum(a.weight for a in self._addrs)
        pairs: list[tuple[int, str, _Addr]] = []
        for st in self._addrs:
            n = max(1, round(self.slots * st.weight / total))
            key = f"{st.address.target}|{st.address.ip}:{st.address.port}"
            # ketama: every MD5 digest gives four 32-bit points
            for j in range((n + 3) // 4):
                digest = hashlib.md5(f"{key}-{j}".encode()).digest()
                for k in range(min(4, n - 4 * j)):
                    pairs.append((int.from_bytes(digest[4 * k:4 * k + 4], "little"), key, st))
        pairs.sort(key=lambda p: (p[0], p[1]))
        self._points = [p[0] for p in pairs]
        self._owners = [p[2] for p in pairs]

    def _update_status(self) -> None:
        total = unavailable = 0
        for t in self._targets:
            for st in t.addrs:
                total += st.weight
                if not st.available:
                    unavailable += st.weight
        self.total_weight, self.unavailable_weight = total, unavailable
        was = self.healthy
        # Kong: healthy when the available share of the weight exceeds the threshold
        self.healthy = total > 0 and (total - unavailable) * 100 / total > self.threshold
        if was != self.healthy:
            _log.info("upstream {name} balancer is now {state}", name=self.name,
                      state="healthy" if self.healthy else "unhealthy")

    # -- selection --------------------------------------------------------

    def select(self, hash_value: str | None = None, exclude: Collection[Address] = ()) -> Address:
        """Pick an address; ``exclude`` holds addresses already tried (retries).

        Excluded addresses are used again only when nothing else is available.

        :raises NoHealthyTarget: nothing healthy, or the upstream is below its threshold.
        """
        if not self.healthy:
            raise NoHealthyTarget(self.name)
        algorithm = self.algorithm
        if algorithm == "consistent-hashing" and hash_value is not None and self._points:
            st = self._select_ring(hash_value, exclude) or self._select_ring(hash_value, ())
        elif algorithm == "least-connections" or algorithm == "latency":
            st = self._select_score(exclude, algorithm == "latency") or \
                self._select_score((), algorithm == "latency")
        else:
            st = self._select_rr(exclude) or self._select_rr(())
        if st is None:
            raise NoHealthyTarget(self.name)
        return st.address

    def _select_rr(self, exclude: Collection[Address]) -> _Addr | None:
        best: _Addr | None = None
        total = 0
        for st in self._addrs:
            if not st.available or (exclude and st.address in exclude):
                continue
            st.current += st.weight
            total += st.weight
            if best is None or st.current > best.current:
                best = st
        if best is not None:
            best.current -= total
        return best

    def _select_ring(self, value: str, exclude: Collection[Address]) -> _Addr | None:
        points, owners = self._points, self._owners
        n = len(points)
        i = bisect.bisect_left(points, _hash32(value)) % n
        st = owners[i]
        if st.available and not (exclude and st.address in exclude):
            return st
        seen = {id(st)}
        for k in range(1, n):
            st = owners[(i + k) % n]
            if st.available and not (exclude and st.address in exclude):
                return st
            seen.add(id(st))
            if len(seen) >= len(self._addrs):
                break
        return None

    def _select_score(self, exclude: Collection[Address], latency: bool) -> _Addr | None:
        addrs = self._addrs
        n = len(addrs)
        best: _Addr | None = None
        best_score = math.inf
        best_i = 0
        start = self._rr_next
        for k in range(n):
            i = (start + k) % n
            st = addrs[i]
            if not st.available or (exclude and st.address in exclude):
                continue
            score = (st.active + 1) / st.weight
            if latency:
                score *= self._decayed(st)
            if score < best_score:
                best, best_score, best_i = st, score, i
        if best is not None:
            self._rr_next = (best_i + 1) % n  # rotate among equal scores
        return best

    def _decayed(self, st: _Addr) -> float:
        if not st.ewma:
            return 0.0
        return st.ewma * math.exp(-(self._clock.seconds() - st.ewma_at) / _EWMA_DECAY)

    def acquire(self, address: Address) -> None:
        """Count a connection/request in flight to ``address`` (least-connections, latency)."""
        st = self._state.get((address.target, address.ip, address.port))
        if st is not None:
            st.active += 1

    def release(self, address: Address, latency: float | None = None) -> None:
        """End what :meth:`acquire` counted; ``latency`` (seconds) feeds the EWMA."""
        st = self._state.get((address.target, address.ip, address.port))
        if st is None:
            return
        if st.active > 0:
            st.active -= 1
        if latency is not None:
            current = self._decayed(st)
            # peak EWMA: jump up at once, decay slowly
            st.ewma = latency if latency > current else current + (latency - current) * 0.1
            st.ewma_at = self._clock.seconds()

    # -- health -----------------------------------------------------------

    def report(self, address: Address, status: int | None = None,
               tcp_failure: bool = False, timeout: bool = False) -> None:
        """Passive health check: the outcome of one proxied request to ``address``."""
        self._report(address, self._passive, status, tcp_failure, timeout)

    def report_active(self, address: Address, status: int | None = None,
                      tcp_failure: bool = False, timeout: bool = False) -> None:
        """Active health check: a probe outcome (``status`` None and no failure = TCP success)."""
        self._report(address, self._active, status, tcp_failure, timeout)

    def _report(self, address: Address, conf: _Checks, status: int | None,
                tcp_failure: bool, timeout: bool) -> None:
        st = self._state.get((address.target, address.ip, address.port))
        if st is None:
            return
        if tcp_failure:
            self._failure(st, "tcp_failures", conf.tcp_failures)
        elif timeout:
            self._failure(st, "timeouts", conf.timeouts)
        elif status is None or status in conf.healthy_statuses:
            self._success(st, conf.successes)
        elif status in conf.unhealthy_statuses:
            self._failure(st, "http_failures", conf.http_failures)

    def _success(self, st: _Addr, limit: int) -> None:
        if limit == 0:
            return
        st.tcp_failures = st.timeouts = st.http_failures = 0
        if st.available:
            st.successes = 0
            return
        st.successes += 1
        if st.successes >= limit:
            self._set(st, True)

    def _failure(self, st: _Addr, counter: str, limit: int) -> None:
        if limit == 0:
            return
        st.successes = 0
        if not st.available:
            return
        count = getattr(st, counter) + 1
        setattr(st, counter, count)
        if count >= limit:
            self._set(st, False)

    def _set(self, st: _Addr, available: bool) -> None:
        st.reset_counters()
        if st.available != available:
            st.available = available
            _log.info("upstream {name} target {target} address {ip}:{port} is now {state}",
                      name=self.name, target=st.address.target, ip=st.address.ip,
                      port=st.address.port, state="healthy" if available else "unhealthy")
            self._update_status()
            for listener in self.listeners:
                listener(st.address, available)

    def set_health(self, target: str, address: str | None, healthy: bool) -> None:
        """Manual override (``PUT .../targets/{t}[/{address}]/healthy|unhealthy``).

        :param target: the target string ``host:port``.
        :param address: ``ip[:port]`` of one address, or ``None`` for all of them.
        :raises UnknownAddress: the target or address is not in this balancer.
        """
        found = [t for t in self._targets if t.target == target]
        if not found:
            raise UnknownAddress(f"target {target!r} not found in upstream {self.name!r}")
        addrs = found[0].addrs
        if address is not None:
            ip, port = parse_target(address, found[0].port)
            addrs = [a for a in addrs if a.address.ip == ip and a.address.port == port]
            if not addrs:
                raise UnknownAddress(f"address {address!r} not found for target {target!r}")
        for st in addrs:
            self._set(st, healthy)

    def is_healthy(self, address: Address) -> bool:
        """Whether ``address`` is currently available (unknown addresses: False)."""
        st = self._state.get((address.target, address.ip, address.port))
        return st is not None and st.available

    def probe_addresses(self, healthy: bool) -> list[Address]:
        """Addresses (weight > 0) whose availability is ``healthy``: what active checks probe."""
        return [st.address for st in self._addrs if st.available is healthy]

    def _target_status(self, t: _Target, health_words: bool) -> dict[str, Any]:
        total = sum(a.weight for a in t.addrs)
        unavailable = sum(a.weight for a in t.addrs if not a.available)
        addresses = []
        for st in t.addrs:
            entry: dict[str, Any] = {"ip": st.address.ip, "port": st.address.port, "weight": st.weight}
            if health_words:
                entry["health"] = ("HEALTHY" if st.available else "UNHEALTHY") \
                    if self.uses_healthchecks and t.weight > 0 else "HEALTHCHECKS_OFF"
            else:
                entry["healthy"] = st.available
            addresses.append(entry)
        return {"host": t.hostname, "port": t.port, "dns": t.dns, "nodeWeight": t.weight,
                "weight": {"total": total, "unavailable": unavailable,
                           "available": total - unavailable},
                "addresses": addresses}

    def health_json(self, balancer_health: bool, node_id: str | None) -> dict[str, Any]:
        """The body of ``GET /upstreams/{u}/health[?balancer_health=1]`` (Kong 3.x shapes)."""
        if balancer_health:
            state = "HEALTHY" if self.healthy else "UNHEALTHY"
            details = {"healthy": self.healthy,
                       "weight": {"total": self.total_weight, "unavailable": self.unavailable_weight,
                                  "available": self.total_weight - self.unavailable_weight},
                       "hosts": [self._target_status(t, False) for t in self._targets]}
            return {"data": {"health": state if self.uses_healthchecks else "HEALTHCHECKS_OFF",
                             "balancer_health": state, "id": self.id, "details": details},
                    "next": None, "node_id": node_id}
        data = []
        # Kong lists active (weight > 0) targets, most recently created first.
        active = sorted((t for t in self._targets if t.weight > 0),
                        key=lambda t: (t.row.get("created_at") or 0, t.row.get("id") or ""),
                        reverse=True)
        for t in active:
            status = self._target_status(t, True)
            health = "DNS_ERROR"
            if t.addrs:
                health = "HEALTHCHECKS_OFF"
                for a in status["addresses"]:
                    if a["health"] == "HEALTHY":
                        health = "HEALTHY"
                        break
                    if a["health"] == "UNHEALTHY":
                        health = "UNHEALTHY"
            entry = dict(t.row)
            entry["health"] = health
            entry["data"] = status
            data.append(entry)
        return {"data": data, "next": None, "node_id": node_id}


_MISSING: Any = object()


def _hash32(value: str) -> int:
    """CRC32 of the value, mixed (murmur3 finaliser) so near-identical keys spread."""
    h = zlib.crc32(value.encode("utf-8", "surrogateescape"))
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    return h ^ (h >> 16)


def _value_for(ctx: Any, mode: str | None, header: str | None, cookie: str | None,
               query_arg: str | None, capture: str | None) -> str | None:
    if mode is None or mode == "none":
        return None
    if mode == "consumer":
        return ctx.consumer_id or ctx.credential_id
    if mode == "ip":
        return ctx.client_ip
    if mode == "header":
        return ctx.headers.get(header) if header else None
    if mode == "cookie":
        return (ctx.cookies or {}).get(cookie) if cookie else None
    if mode == "path":
        return ctx.path
    if mode == "query_arg":
        value = (ctx.query or {}).get(query_arg) if query_arg else None
        if isinstance(value, (list, tuple)):
            return ",".join(sorted(str(v) for v in value)) if value else None
        return value if isinstance(value, str) else None
    if mode == "uri_capture":
        return (ctx.uri_captures or {}).get(capture) if capture else None
    return None


def hash_input(upstream_row: Mapping[str, Any], ctx: Any) -> str | None:
    """The consistent-hashing value for a request, per ``hash_on`` then ``hash_fallback``.

    ``ctx`` is duck-typed: ``consumer_id``, ``credential_id``, ``client_ip``,
    ``headers`` (``get``), ``cookies`` (dict), ``path``, ``query`` (dict),
    ``uri_captures`` (dict). ``None`` means: select round-robin. With
    ``hash_on=cookie`` and no cookie, Kong generates a UUID, hashes on it and
    sets the cookie (:func:`hash_cookie_header`): that is the caller's job.
    """
    u = upstream_row
    value = _value_for(ctx, u.get("hash_on"), u.get("hash_on_header"), u.get("hash_on_cookie"),
                       u.get("hash_on_query_arg"), u.get("hash_on_uri_capture"))
    if value is None:
        value = _value_for(ctx, u.get("hash_fallback"), u.get("hash_fallback_header"), None,
                           u.get("hash_fallback_query_arg"), u.get("hash_fallback_uri_capture"))
    return value


def hash_cookie_header(upstream_row: Mapping[str, Any], value: str) -> str:
    """The ``Set-Cookie`` value Kong sends when it generated the hash cookie."""
    path = upstream_row.get("hash_on_cookie_path") or "/"
    return f"{upstream_row['hash_on_cookie']}={value}; Path={path}; Same-Site=Lax; HttpOnly"

