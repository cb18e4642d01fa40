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
from kongtx.plugins.base import ProxyContext
from kongtx.plugins.rate_limiting.plan import RateLimitPlan
from kongtx.ratelimit.counters import CounterUnavailable, Outcome
from kongtx.ratelimit.plugin import CountingPlugin
from kongtx.ratelimit.windows import Window

__all__ = ["RateLimitingHandler"]

log = Logger()

_HEADERS = "rate-limiting:headers"  # ctx.shared key: headers for header_filter


class RateLimitingHandler(CountingPlugin[RateLimitPlan]):
    """The ``rate-limiting`` plugin."""

    name = "rate-limiting"
    priority = 910
    version = KONG_COMPAT_VERSION

    def make_plan(
        self, conf: dict[str, Any], route_id: str | None, service_id: str | None
    ) -> RateLimitPlan:
        """Digest one config."""
        return RateLimitPlan(conf, route_id, service_id)

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> Deferred[None] | None:
        """Count the request; block it past a limit."""
        plan, store = self.plan_and_store(ctx, conf)
        now = ctx.clock.seconds()
        windows = plan.windows(now)
        result = store.hit(plan.hits(plan.identifier(ctx), windows), True)
        if isinstance(result, Outcome):
            self._decide(result, ctx, plan, windows, now)
            return None
        waiting: Deferred[Any] = result
        waiting.addCallbacks(
            self._decide,
            self._unavailable,
            callbackArgs=(ctx, plan, windows, now),
            errbackArgs=(plan,),
        )
        return waiting

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
            ctx.response_headers.take(self.compiled(conf).header_names)
            ctx.response_headers.extend(headers)
