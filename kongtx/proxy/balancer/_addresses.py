"""Balancer value types: selected addresses, errors and per-address state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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


class Addr:
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


class TargetEntry:
    __slots__ = ("addrs", "dns", "hostname", "port", "row", "target", "weight")

    def __init__(self, row: Mapping[str, Any], dns: str) -> None:
        self.row = row
        self.target = row["target"]
        self.hostname, self.port = parse_target(self.target)
        self.weight = int(row.get("weight", 100))
        self.addrs: list[Addr] = []
        self.dns = dns  # record type used ("A", "SRV", ...) or the DNS error message
