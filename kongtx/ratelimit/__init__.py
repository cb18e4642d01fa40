"""Counting for the traffic-control plugins (rate-limiting, response-ratelimiting).

The plugins describe what to count as :class:`~kongtx.ratelimit.counters.Hit`
entries (one per window) and hand them to a counter store, which applies them
atomically (:func:`~kongtx.ratelimit.counters.apply_hits` semantics):

* :mod:`~kongtx.ratelimit.windows` – Kong's fixed, UTC-aligned windows (sans-IO);
* :mod:`~kongtx.ratelimit.counters` – the hit semantics and the in-process store;
* :mod:`~kongtx.ratelimit.shared` – the same store shared by a node's worker processes;
* :mod:`~kongtx.ratelimit.redis` – the ``redis`` policy (one Lua script per request);
* :mod:`~kongtx.ratelimit.sql` – the ``cluster`` policy (conditional upserts in one transaction);
* :mod:`~kongtx.ratelimit.policies` – picks the store for a plugin config;
* :mod:`~kongtx.ratelimit.identity` – who a request is counted as;
* :mod:`~kongtx.ratelimit.config` – the config fields both plugins declare;
* :mod:`~kongtx.ratelimit.plugin` – the base of both plugins' handlers.
"""
