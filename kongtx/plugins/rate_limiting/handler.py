"""``rate-limiting`` (Kong's ``kong/plugins/rate-limiting/handler.lua``, priority 910).

In ``access`` the request's counters (one per configured period) are checked
and incremented in one atomic step on the policy's store (see
:mod:`kongtx.ratelimit`): exactly ``limit`` requests pass per window, however
many arrive at once. A blocked request gets ``error_code`` with
``error_message`` and ``Retry-After``; a passing one gets Kong's headers in
``header_filter``. With the ``local`` policy in a single process the step is
a few dict operations and costs no Deferred.

When the store cannot be reached: ``fault_tolerant`` lets the request through
without headers (and logs it), otherwise Kong's 500.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from kongtx import KONG_COMPAT_VERSION
from kongtx.errors import ProxyExit
from kongtx.plugins.base import ConfigCache, PluginHandler, ProxyContext
from kongtx.plugins.rate_limiting.plan import RateLimitPlan
from kongtx.ratelimit.counters import CounterUnavailable, LocalCounters, Outcome
from kongtx.ratelimit.policies import CounterPolicies
from kongtx.ratelimit.windows import Window

__all__ = ["RateLimitingHandler"]

log = Logger()

_HEADERS = "rate-limiting:headers"  # ctx.shared key: headers for header_filter


class RateLimitingHandler(PluginHandler):
    """The ``rate-limiting`` plugin."""

    name = "rate-limiting"
    priority = 910
    version = KONG_COMPAT_VERSION

    def __init__(self) -> None:
        self._scopes: dict[int, tuple[str | None, str | None]] = {}
        self._plans: ConfigCache[RateLimitPlan] = ConfigCache(self._plan)
        self._counters: CounterPolicies | None = None

    def attach(self, node: Any) -> None:
        """Count with the node's policies (its local store is shared by its workers)."""
        self._counters = node.counters

    def configure(self, configs: list[dict[str, Any]]) -> None:
        """Digest every config once per snapshot, with its plugin's route and service."""
        self._scopes = {
            id(row["config"]): (_ref(row.get("route")), _ref(row.get("service")))
            for row in configs
            if isinstance(row.get("config"), dict)
        }
        self._plans.reset(configs)

    def _plan(self, conf: dict[str, Any]) -> RateLimitPlan:
        route_id, service_id = self._scopes.get(id(conf), (None, None))
        return RateLimitPlan(conf, route_id, service_id)

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> Deferred[None] | None:
        """Count the request; block it past a limit."""
        plan = self._plans.get(conf)
        store = plan.store
        if store is None:
            store = plan.store = self._policies(ctx).store_for(conf)
        now = ctx.clock.seconds()
        windows = plan.windows(now)
        result = store.hit(plan.hits(plan.identifier(ctx), windows), True)
        if isinstance(result, Outcome):
            self._decide(result, ctx, plan, windows, now)
            return None
        result.addCallbacks(
            self._decide,
            self._unavailable,
            callbackArgs=(ctx, plan, windows, now),
            errbackArgs=(plan,),
        )
        return result

    def _policies(self, ctx: ProxyContext) -> CounterPolicies:
        if self._counters is None:
            # Not attached to a node (plugin tests): counters of this handler's own.
            self._counters = CounterPolicies(ctx.clock, LocalCounters(ctx.clock))
        return self._counters

    @staticmethod
    def _decide(
        outcome: Outcome, ctx: ProxyContext, plan: RateLimitPlan, windows: list[Window], now: float
    ) -> None:
        if plan.hide_client_headers:
            if outcome.blocked >= 0:
                raise ProxyExit(plan.error_code, plan.error_message)
            return
        headers, reset = plan.headers(outcome, windows, now)
        if outcome.blocked >= 0:
            headers.append(("Retry-After", str(reset)))
            raise ProxyExit(plan.error_code, plan.error_message, headers=headers)
        ctx.shared[_HEADERS] = headers

    @staticmethod
    def _unavailable(failure: Failure, plan: RateLimitPlan) -> None:
        if not failure.check(CounterUnavailable):
            failure.raiseException()
        log.error("rate-limiting: failed to get usage: {err}", err=failure.getErrorMessage())
        if not plan.fault_tolerant:
            raise ProxyExit(500, "An unexpected error occurred")

    def header_filter(self, ctx: ProxyContext, conf: dict[str, Any]) -> None:
        """Add the headers ``access`` computed."""
        headers = ctx.shared.pop(_HEADERS, None)
        if headers and ctx.response_headers is not None:
            # Replace any the upstream sent, in one pass over the response's headers.
            ctx.response_headers.take(self._plans.get(conf).header_names)
            ctx.response_headers.extend(headers)

    def detach(self) -> None:
        """Forget the node's policies and the plans bound to them."""
        self._counters = None
        self._plans.reset([])


def _ref(value: Any) -> str | None:
    return value.get("id") if isinstance(value, dict) else None
