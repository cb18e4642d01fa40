"""Kong's HTTP router, ``traditional_compatible`` flavour (sans-IO).

A :class:`Router` is compiled once per configuration snapshot. Each route is
split per path the way Kong 3.x does (all regex paths of a route form one
matcher, plain prefixes one matcher per length), every matcher gets Kong's
priority (proxy.md §1.3) and a rank, and matchers are indexed:

* by host: a dict per exact host, dicts per ``*.suffix`` and ``prefix.*``
  wildcard, plus one bucket for routes without hosts;
* inside a bucket, plain prefixes by length (``{len: {prefix: [entries]}}``),
  so a lookup costs one slice and one dict probe per distinct prefix length;
  regex matchers and path-less matchers are kept in rank order.

A lookup gathers the few candidate lists for the request's host and path,
checks the remaining conditions (port, method, headers, SNI, regex) and keeps
the best rank; each list is in rank order, so it stops early. A small bounded
LRU of recent requests sits in front (dropped with the router on a new snapshot).

Host ports (``example.com:8000`` in ``hosts``): compared with ``server_port``
(the port the request was received on, Kong 3.x default flavour) when the caller
passes it; otherwise with the Host header's port, or 80/443 by scheme when the
Host header has none (the traditional router's rule).
"""

from __future__ import annotations

from kongtx.router._index import split_host_port
from kongtx.router._match import HTTP_PROTOCOLS, Match, Router

__all__ = ["HTTP_PROTOCOLS", "Match", "Router", "split_host_port"]
