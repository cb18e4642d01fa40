"""Sans-IO address matching for ``ip-restriction``: CIDR lists compiled to sorted ranges."""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from typing import Iterable, Union

__all__ = ["IPMatcher", "parse_client_ip"]

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


class IPMatcher:
    """A set of IPv4/IPv6 addresses and CIDR ranges, matched in O(log n).

    Overlapping ranges are merged once at construction; a lookup is a bisect
    over the range starts of the address's family.

    :param entries: addresses or CIDRs (``"10.0.0.1"``, ``"10.0.0.0/8"``, ``"::1/128"``).
    :raises ValueError: for an entry that is neither.
    """

    __slots__ = ("_starts", "_ends")

    def __init__(self, entries: Iterable[str]) -> None:
        networks: dict[int, list[ipaddress.IPv4Network | ipaddress.IPv6Network]] = {4: [], 6: []}
        for entry in entries:
            network = ipaddress.ip_network(entry.strip(), strict=False)
            networks[network.version].append(network)
        self._starts: dict[int, list[int]] = {}
        self._ends: dict[int, list[int]] = {}
        for version, nets in networks.items():
            starts: list[int] = []
            ends: list[int] = []
            for net in ipaddress.collapse_addresses(nets):  # type: ignore[type-var]
                starts.append(int(net.network_address))
                ends.append(int(net.broadcast_address))
            self._starts[version] = starts
            self._ends[version] = ends

    def __bool__(self) -> bool:
        return any(self._starts.values())

    def matches(self, address: Address) -> bool:
        """Whether ``address`` falls in one of the ranges."""
        mapped = address.ipv4_mapped if address.version == 6 else None
        if mapped is not None and self._contains(mapped):
            return True
        return self._contains(address)

    def _contains(self, address: Address) -> bool:
        starts = self._starts[address.version]
        if not starts:
            return False
        value = int(address)
        index = bisect_right(starts, value) - 1
        return index >= 0 and value <= self._ends[address.version][index]


def parse_client_ip(text: str | None) -> Address | None:
    """The client address as an ``ipaddress`` object, or ``None`` if it is not an IP."""
    if not text:
        return None
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
