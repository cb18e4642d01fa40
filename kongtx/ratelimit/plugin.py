"""What rate-limiting and response-ratelimiting share as plugins: scoped plans and counter stores.

A plan is built once per config, when the snapshot compiles it
(``make_plan(conf, route_id, service_id)``: the ids of the plugin's own route
and service, which Kong puts in counter keys); its store is the one the config's ``policy`` names among the node's
:class:`~kongtx.ratelimit.policies.CounterPolicies`, bound on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, Protocol, TypeVar

from kongtx.plugins.base import PluginHandler, PluginNode, ProxyContext
from kongtx.ratelimit.counters import CounterStore, LocalCounters
from kongtx.ratelimit.policies import CounterPolicies

__all__ = ["CountingPlugin"]


class _Plan(Protocol):
    store: Any


P = TypeVar("P", bound=_Plan)


class CountingPlugin(PluginHandler, Generic[P]):
    """Base of the counting plugins' handlers (no hook of its own)."""

    def __init__(self) -> None:
        self._counters: CounterPolicies | None = None

    def make_plan(self, conf: dict[str, Any], route_id: str | None, service_id: str | None) -> P:
        """Digest one config of a plugin scoped to ``route_id`` / ``service_id``."""
        raise NotImplementedError

    def init_worker(self, node: PluginNode) -> None:
        """Count with the node's policies (its local store is shared by its workers)."""
        self._counters = node.counters

    def exit_worker(self) -> None:
        """Forget the node's policies."""
        self._counters = None

    def compile(self, conf: dict[str, Any], plugin: Mapping[str, Any] | None = None) -> P:
        """The plan of one config, with its plugin's route and service (once, in the snapshot)."""
        plugin = plugin or {}
        return self.make_plan(conf, _ref(plugin.get("route")), _ref(plugin.get("service")))

    def plan_and_store(self, ctx: ProxyContext, conf: dict[str, Any]) -> tuple[P, CounterStore]:
        """The plan of ``conf`` and the store its policy names."""
        plan: P = self.compiled(conf)
        store = plan.store
        if store is None:
            if self._counters is None:
                # Not started on a node (plugin unit tests): counters of this handler's own.
                self._counters = CounterPolicies(ctx.clock, LocalCounters(ctx.clock))
            store = plan.store = self._counters.store_for(conf)
        return plan, store


def _ref(value: Any) -> str | None:
    return value.get("id") if isinstance(value, dict) else None
