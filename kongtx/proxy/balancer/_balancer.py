"""The :class:`Balancer`: configuration from rows and address selection."""

from __future__ import annotations

import bisect
import hashlib
import math
import zlib
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from twisted.internet.interfaces import IReactorTime

from kongtx.proxy.balancer._addresses import Addr, Address, NoHealthyTarget, TargetEntry
from kongtx.proxy.balancer._health import Checks, HealthState
from kongtx.proxy.dns import ResolvedAddress, is_ip

_EWMA_DECAY = 10.0  # seconds, Kong's latency algorithm
_SRV_ZERO_WEIGHT = 1  # an SRV weight of 0 still gets a minimal share (Kong)


class Balancer(HealthState):
    """Select addresses of one upstream and track their health (no I/O).

    :param upstream_row: the upstream (Kong JSON).
    :param target_rows: its targets (Kong JSON, ``target`` is ``host:port``).
    :param clock: ``IReactorTime`` (latency decay).
    :param addresses_by_target: DNS answers for hostname targets, see :meth:`update`.
    """

    def __init__(
        self,
        upstream_row: Mapping[str, Any],
        target_rows: Iterable[Mapping[str, Any]],
        clock: IReactorTime,
        addresses_by_target: Mapping[str, Any] | None = None,
    ) -> None:
        self._clock = clock
        self._targets: list[TargetEntry] = []
        self._state: dict[tuple[str, str, int], Addr] = {}
        self._addrs: list[Addr] = []
        self._points: list[int] = []
        self._owners: list[Addr] = []
        self._rr_next = 0
        self.healthy = False
        self.total_weight = 0
        self.unavailable_weight = 0
        #: callables ``(address, healthy)`` told about every health transition
        self.listeners: list[Callable[[Address, bool], None]] = []
        self.update(upstream_row, target_rows, addresses_by_target)

    # -- configuration ----------------------------------------------------

    def update(
        self,
        upstream_row: Mapping[str, Any],
        target_rows: Iterable[Mapping[str, Any]],
        addresses_by_target: Mapping[str, Any] | None = None,
    ) -> None:
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
        self._active = Checks.from_row(self.active)
        self._passive = Checks.from_row(checks.get("passive"))
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
            target = TargetEntry(row, "")
            answers = addresses_by_target.get(target.target, _MISSING)
            if is_ip(target.hostname):
                answers = (ResolvedAddress(target.hostname.strip("[]"), target.port),)
            elif answers is _MISSING:
                prev = previous.get(target.target)
                target.dns = prev.dns if prev is not None else "unresolved"
                answers = (
                    tuple(
                        ResolvedAddress(a.address.ip, a.address.port, a.dns_weight)
                        for a in prev.addrs
                    )
                    if prev is not None
                    else ()
                )
            elif answers is None or isinstance(answers, Exception):
                target.dns = str(answers) if answers is not None else "name resolution failed"
                answers = ()
            if not target.dns:
                target.dns = (
                    "SRV"
                    if any(a.weight is not None for a in answers)
                    else ("AAAA" if any(":" in a.ip for a in answers) else "A")
                )
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
                    st = Addr(address, weight)
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
        pairs: list[tuple[int, str, Addr]] = []
        for st in self._addrs:
            n = max(1, round(self.slots * st.weight / total))
            key = f"{st.address.target}|{st.address.ip}:{st.address.port}"
            # ketama: every MD5 digest gives four 32-bit points
            for j in range((n + 3) // 4):
                digest = hashlib.md5(f"{key}-{j}".encode()).digest()
                for k in range(min(4, n - 4 * j)):
                    pairs.append((int.from_bytes(digest[4 * k : 4 * k + 4], "little"), key, st))
        pairs.sort(key=lambda p: (p[0], p[1]))
        self._points = [p[0] for p in pairs]
        self._owners = [p[2] for p in pairs]

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
            st = self._select_score(exclude, algorithm == "latency") or self._select_score(
                (), algorithm == "latency"
            )
        else:
            st = self._select_rr(exclude) or self._select_rr(())
        if st is None:
            raise NoHealthyTarget(self.name)
        return st.address

    def _select_rr(self, exclude: Collection[Address]) -> Addr | None:
        best: Addr | None = None
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

    def _select_ring(self, value: str, exclude: Collection[Address]) -> Addr | None:
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

    def _select_score(self, exclude: Collection[Address], latency: bool) -> Addr | None:
        addrs = self._addrs
        n = len(addrs)
        best: Addr | None = None
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

    def _decayed(self, st: Addr) -> float:
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


_MISSING: Any = object()


def _hash32(value: str) -> int:
    """CRC32 of the value, mixed (murmur3 finaliser) so near-identical keys spread."""
    h = zlib.crc32(value.encode("utf-8", "surrogateescape"))
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    return h ^ (h >> 16)
