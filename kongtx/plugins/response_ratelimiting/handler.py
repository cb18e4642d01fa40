"""``response-ratelimiting`` (Kong's ``kong/plugins/response-ratelimiting/``, priority 900).

``access`` reads the request's counters (one step, nothing counted): with
``block_on_first_violation`` an exhausted name answers 429 at once; the
upstream gets ``X-RateLimit-Remaining-<name>``. ``header_filter`` reads the
usage the upstream reports in ``header_name`` (removed from the response) and
counts it in **one atomic step** on the policy's store: if a name with usage
had no quota left, nothing is counted and the client gets an empty 429, as in
Kong, but without Kong's race between reading and counting.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from kongtx import KONG_COMPAT_VERSION
from kongtx.errors import ProxyExit
from kongtx.plugins.base import ProxyContext
from kongtx.plugins.response_ratelimiting.plan import ResponseLimitPlan, parse_usage
from kongtx.ratelimit.counters import CounterUnavailable, Outcome
from kongtx.ratelimit.identity import format_number, identifier
from kongtx.ratelimit.plugin import CountingPlugin

__all__ = ["ResponseRatelimitingHandler"]

log = Logger()

_STATE = "response-ratelimiting:state"  # ctx.shared key: (identifier, windows) from access
_EMPTY = "response-ratelimiting:empty"  # ctx.shared key: the upstream body is replaced


class ResponseRatelimitingHandler(CountingPlugin[ResponseLimitPlan]):
    """The ``response-ratelimiting`` plugin."""

    name = "response-ratelimiting"
    priority = 900
    version = KONG_COMPAT_VERSION

    def make_plan(
        self, conf: dict[str, Any], route_id: str | None, service_id: str | None
    ) -> ResponseLimitPlan:
        """Digest one config."""
        return ResponseLimitPlan(conf, route_id, service_id)

    # -- access ------------------------------------------------------------------
    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> Deferred[None] | None:
        """Read the counters: block an exhausted name early, tell the upstream what is left."""
        plan, store = self.plan_and_store(ctx, conf)
        if not plan.entries:
            return None
        who = identifier(ctx, plan.limit_by)
        windows = plan.windows(ctx.clock.seconds())
        result = store.hit(plan.hits(who, windows, {}), False)
        if isinstance(result, Outcome):
            self._checked(result, ctx, plan, who, windows)
            return None
        waiting: Deferred[Any] = result
        waiting.addCallbacks(
            self._checked,
            self._access_failed,
            callbackArgs=(ctx, plan, who, windows),
            errbackArgs=(plan,),
        )
        return waiting

    @staticmethod
    def _checked(
        outcome: Outcome, ctx: ProxyContext, plan: ResponseLimitPlan, who: str, windows: list[Any]
    ) -> None:
        if plan.block_on_first_violation:
            name = plan.exhausted(outcome)
            if name is not None:
                raise ProxyExit(429, body={"message": f"API rate limit exceeded for '{name}'"})
        for name, remaining in plan.remaining_by_name(outcome).items():
            ctx.request.headers.set(f"X-RateLimit-Remaining-{name}", format_number(remaining))
        ctx.shared[_STATE] = (who, windows)

    @staticmethod
    def _access_failed(failure: Failure, plan: ResponseLimitPlan) -> None:
        if not failure.check(CounterUnavailable):
            failure.raiseException()
        log.error(
            "response-ratelimiting: failed to get usage: {err}", err=failure.getErrorMessage()
        )
        if not plan.fault_tolerant:
            raise ProxyExit(500, body={"message": "An unexpected error occurred"})

    # -- response ----------------------------------------------------------------
    def header_filter(self, ctx: ProxyContext, conf: dict[str, Any]) -> Deferred[None] | None:
        """Count the usage the upstream reported; past the quota, an empty 429."""
        plan, store = self.plan_and_store(ctx, conf)
        headers = ctx.response_headers
        if headers is None:
            return None
        reported = headers.get_all(plan.header_name)
        if reported:
            headers.remove(plan.header_name)
        state = ctx.shared.pop(_STATE, None)
        if state is None:  # access did not run to the end (an exit, a store failure)
            return None
        who, windows = state
        usage = parse_usage(reported, plan.names)
        result = store.hit(plan.hits(who, windows, usage), False)
        if isinstance(result, Outcome):
            self._counted(result, ctx, plan, usage)
            return None
        waiting: Deferred[Any] = result
        waiting.addCallbacks(self._counted, self._count_failed, callbackArgs=(ctx, plan, usage))
        return waiting

    @staticmethod
    def _counted(
        outcome: Outcome, ctx: ProxyContext, plan: ResponseLimitPlan, usage: dict[str, int]
    ) -> None:
        headers = ctx.response_headers
        assert headers is not None
        if not plan.hide_client_headers:
            for name, value in plan.headers(outcome, usage):
                headers.set(name, value)
        if outcome.blocked >= 0:
            # Kong's kong.response.exit(429) in header_filter: no body.
            ctx.response_status = 429
            for name in ("content-type", "content-encoding", "transfer-encoding", "etag"):
                headers.remove(name)
            headers.set("Content-Length", "0")
            ctx.shared[_EMPTY] = True

    @staticmethod
    def _count_failed(failure: Failure) -> None:
        if not failure.check(CounterUnavailable):
            failure.raiseException()
        log.error(
            "response-ratelimiting: failed to count usage: {err}", err=failure.getErrorMessage()
        )

    def body_filter(
        self, ctx: ProxyContext, conf: dict[str, Any], chunk: bytes, eof: bool
    ) -> bytes | None:
        """Drop the upstream body of a response replaced by a 429."""
        if ctx.shared.get(_EMPTY):
            return b""
        return None
