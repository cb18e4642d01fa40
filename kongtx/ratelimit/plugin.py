"""What rate-limiting and response-ratelimiting share as plugins: scoped plans and counter stores.

A plan is built once per config (``make_plan(conf, route_id, service_id)``:
the ids of the plugin's own route and service, which Kong puts in counter
keys); its store is the one the config's ``policy`` names among the node's
:class:`~kongtx.ratelimit.policies.CounterPolicies`, bound on first use.
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

from kongtx.plugins.base import ConfigCache, PluginHandler, ProxyContext
from kongtx.ratelimit.counters import CounterStore, LocalCounters
from kongtx.ratelimit.policies import CounterPolicies

__all__ = ["CountingPlugin"]


class _Plan(Protocol):
    store: Any


P = TypeVar("P", bound=_Plan)


class CountingPlugin(PluginHandler, Generic[P]):
    """Base of the counting plugins' handlers (no hook of its own)."""

    def __init__(self) -> None:
        self._scopes: dict[int, tuple[str | None, str | None]] = {}
        self._plans: ConfigCache[P] = ConfigCache(self._plan)
        self._counters: CounterPolicies | None = None

    def make_plan(self, conf: dict[str, Any], route_id: str | None, service_id: str | None) -> P:
        """Digest one config of a plugin scoped to ``route_id`` / ``service_id``."""
        raise NotImplementedError

    def attach(self, node: Any) -> None:
        """Count with the node's policies (its local store is shared by its workers)."""
        self._counters = node.counters

    def detach(self) -> None:
        """Forget the node's policies and the plans bound to them."""
        self._counters = None
        self._plans.reset([])

    def configure(self, configs: list[dict[str, Any]]) -> None:
        """Digest every config once per snapshot, with its plugin's route and service."""
        self._scopes = {
            id(row["config"]): (_ref(row.get("route")), _ref(row.get("service")))
            for row in configs
            if isinstance(row.get("config"), dict)
        }
        self._plans.reset(configs)

    def _plan(self, conf: dict[str, Any]) -> P:
        route_id, service_id = self._scopes.get(id(conf), (None, None))
        return self.make_plan(conf, route_id, service_id)

    def plan_and_store(self, ctx: ProxyContext, conf: dict[str, Any]) -> tuple[P, CounterStore]:
        """The plan of ``conf`` and the store its policy names."""
        plan = self._plans.get(conf)
        store = plan.store
        if store is None:
            if self._counters is None:
                # Not attached to a node (plugin unit tests): counters of this handler's own.
                self._counters = CounterPolicies(ctx.clock, LocalCounters(ctx.clock))
            store = plan.store = self._counters.store_for(conf)
        return plan, store


def _ref(value: Any) -> str | None:
    return value.get("id") if isinstance(value, dict) else None
