"""Balancer health: passive/active counters, manual overrides and health JSON."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from twisted.logger import Logger

from kongtx.proxy.balancer._addresses import (
    Addr,
    Address,
    TargetEntry,
    UnknownAddress,
    parse_target,
)

_log = Logger(namespace="kongtx.proxy.balancer")


@dataclass(frozen=True)
class Checks:
    """One health-check section (active or passive) compiled for fast lookups."""

    healthy_statuses: frozenset[int]
    unhealthy_statuses: frozenset[int]
    successes: int
    tcp_failures: int
    timeouts: int
    http_failures: int

    @classmethod
    def from_row(cls, section: Mapping[str, Any] | None) -> Checks:
        section = section or {}
        healthy = section.get("healthy") or {}
        unhealthy = section.get("unhealthy") or {}
        return cls(
            frozenset(healthy.get("http_statuses") or ()),
            frozenset(unhealthy.get("http_statuses") or ()),
            int(healthy.get("successes") or 0),
            int(unhealthy.get("tcp_failures") or 0),
            int(unhealthy.get("timeouts") or 0),
            int(unhealthy.get("http_failures") or 0),
        )


class HealthState:
    """The health half of :class:`~kongtx.proxy.balancer.Balancer` (a mixin).

    The attributes below are set by ``Balancer.update``.
    """

    name: str
    id: str | None
    healthy: bool
    threshold: float
    total_weight: int
    unavailable_weight: int
    uses_healthchecks: bool
    listeners: list[Callable[[Address, bool], None]]
    _state: dict[tuple[str, str, int], Addr]
    _targets: list[TargetEntry]
    _addrs: list[Addr]
    _active: Checks
    _passive: Checks

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
            _log.info(
                "upstream {name} balancer is now {state}",
                name=self.name,
                state="healthy" if self.healthy else "unhealthy",
            )

    # -- health -----------------------------------------------------------

    def report(
        self,
        address: Address,
        status: int | None = None,
        tcp_failure: bool = False,
        timeout: bool = False,
    ) -> None:
        """Passive health check: the outcome of one proxied request to ``address``."""
        self._report(address, self._passive, status, tcp_failure, timeout)

    def report_active(
        self,
        address: Address,
        status: int | None = None,
        tcp_failure: bool = False,
        timeout: bool = False,
    ) -> None:
        """Active health check: a probe outcome (``status`` None and no failure = TCP success)."""
        self._report(address, self._active, status, tcp_failure, timeout)

    def _report(
        self, address: Address, conf: Checks, status: int | None, tcp_failure: bool, timeout: bool
    ) -> None:
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

    def _success(self, st: Addr, limit: int) -> None:
        if limit == 0:
            return
        st.tcp_failures = st.timeouts = st.http_failures = 0
        if st.available:
            st.successes = 0
            return
        st.successes += 1
        if st.successes >= limit:
            self._set(st, True)

    def _failure(self, st: Addr, counter: str, limit: int) -> None:
        if limit == 0:
            return
        st.successes = 0
        if not st.available:
            return
        count = getattr(st, counter) + 1
        setattr(st, counter, count)
        if count >= limit:
            self._set(st, False)

    def _set(self, st: Addr, available: bool) -> None:
        st.reset_counters()
        if st.available != available:
            st.available = available
            _log.info(
                "upstream {name} target {target} address {ip}:{port} is now {state}",
                name=self.name,
                target=st.address.target,
                ip=st.address.ip,
                port=st.address.port,
                state="healthy" if available else "unhealthy",
            )
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

    def _target_status(self, t: TargetEntry, health_words: bool) -> dict[str, Any]:
        total = sum(a.weight for a in t.addrs)
        unavailable = sum(a.weight for a in t.addrs if not a.available)
        addresses = []
        for st in t.addrs:
            entry: dict[str, Any] = {
                "ip": st.address.ip,
                "port": st.address.port,
                "weight": st.weight,
            }
            if health_words:
                entry["health"] = (
                    ("HEALTHY" if st.available else "UNHEALTHY")
                    if self.uses_healthchecks and t.weight > 0
                    else "HEALTHCHECKS_OFF"
                )
            else:
                entry["healthy"] = st.available
            addresses.append(entry)
        return {
            "host": t.hostname,
            "port": t.port,
            "dns": t.dns,
            "nodeWeight": t.weight,
            "weight": {
                "total": total,
                "unavailable": unavailable,
                "available": total - unavailable,
            },
            "addresses": addresses,
        }

    def health_json(self, balancer_health: bool, node_id: str | None) -> dict[str, Any]:
        """The body of ``GET /upstreams/{u}/health[?balancer_health=1]`` (Kong 3.x shapes)."""
        if balancer_health:
            state = "HEALTHY" if self.healthy else "UNHEALTHY"
            details = {
                "healthy": self.healthy,
                "weight": {
                    "total": self.total_weight,
                    "unavailable": self.unavailable_weight,
                    "available": self.total_weight - self.unavailable_weight,
                },
                "hosts": [self._target_status(t, False) for t in self._targets],
            }
            return {
                "data": {
                    "health": state if self.uses_healthchecks else "HEALTHCHECKS_OFF",
                    "balancer_health": state,
                    "id": self.id,
                    "details": details,
                },
                "next": None,
                "node_id": node_id,
            }
        data = []
        # Kong lists active (weight > 0) targets, most recently created first.
        active = sorted(
            (t for t in self._targets if t.weight > 0),
            key=lambda t: (t.row.get("created_at") or 0, t.row.get("id") or ""),
            reverse=True,
        )
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
