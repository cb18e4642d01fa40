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

from kongtx.proxy.balancer._addresses import (
    Address,
    NoHealthyTarget,
    UnknownAddress,
    parse_target,
)
from kongtx.proxy.balancer._balancer import Balancer
from kongtx.proxy.balancer._hash_on import hash_cookie_header, hash_input

__all__ = [
    "Address",
    "Balancer",
    "NoHealthyTarget",
    "UnknownAddress",
    "hash_cookie_header",
    "hash_input",
    "parse_target",
]
