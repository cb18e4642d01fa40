"""rate-limiting's handler on a fake clock: windows rolling over, headers, identifiers, failures."""

from __future__ import annotations

import pytest
from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure

from kongtx.errors import ProxyExit
from kongtx.http.headers import Headers
from kongtx.plugins.base import CompiledConfig
from kongtx.plugins.rate_limiting.handler import RateLimitingHandler as Handler
from kongtx.plugins.rate_limiting.plan import RateLimitPlan
from kongtx.plugins.testing import make_context, make_request
from kongtx.proxy.context import ProxyContext
from kongtx.ratelimit.counters import CounterUnavailable, Outcome
from kongtx.ratelimit.identity import NO_ID, format_number


def result_of(d: Deferred):
    """The result of a Deferred that already fired."""
    box: list = []
    d.addBoth(box.append)
    assert box, "the Deferred has not fired"
    if isinstance(box[0], Failure):
        box[0].raiseException()
    return box[0]


def failure_of(d: Deferred, *kinds: type) -> Failure:
    """The Failure of a Deferred that already failed with one of ``kinds``."""
    box: list = []
    d.addBoth(box.append)
    assert box and isinstance(box[0], Failure), box
    assert box[0].check(*kinds), box[0]
    return box[0]


def _conf(**changes) -> dict:
    return {
        "second": None,
        "minute": None,
        "hour": None,
        "day": None,
        "month": None,
        "year": None,
        "limit_by": "consumer",
        "header_name": None,
        "path": None,
        "policy": "local",
        "fault_tolerant": True,
        "hide_client_headers": False,
        "error_code": 429,
        "error_message": "API rate limit exceeded",
        **changes,
    }


def _ctx(
    clock: Clock, path: str = "/", headers: list[tuple[str, str]] | None = None
) -> ProxyContext:
    request = make_request("GET", path, headers or [("Host", "x")], client_ip="10.0.0.1")
    ctx = make_context(request=request, clock=clock)
    ctx.response_headers = Headers()
    return ctx


def _run(handler: Handler, clock: Clock, conf: dict, **kw) -> ProxyContext | ProxyExit:
    ctx = _ctx(clock, **kw)
    try:
        assert handler.access(ctx, conf) is None  # local: no Deferred
    except ProxyExit as exc:
        return exc
    handler.header_filter(ctx, conf)
    return ctx


def test_minute_window_rolls_over_on_the_clock():
    """Blocked for the rest of the minute, allowed again when the next minute starts."""
    clock = Clock()
    clock.advance(1_800_000_000 + 30)  # 30 s into a minute
    handler = Handler()
    conf = _conf(minute=2)
    assert isinstance(_run(handler, clock, conf), ProxyContext)
    assert isinstance(_run(handler, clock, conf), ProxyContext)
    blocked = _run(handler, clock, conf)
    assert isinstance(blocked, ProxyExit) and blocked.status == 429
    assert dict(blocked.headers)["Retry-After"] == "30"
    clock.advance(29.5)
    assert isinstance(_run(handler, clock, conf), ProxyExit)
    clock.advance(0.5)
    ctx = _run(handler, clock, conf)
    assert isinstance(ctx, ProxyContext)
    assert ctx.response_headers.get("X-RateLimit-Remaining-Minute") == "1"
    assert ctx.response_headers.get("RateLimit-Reset") == "60"


def test_most_restrictive_window_drives_ratelimit_headers():
    """RateLimit-* follow the period with the least remaining; ties go to the longer window."""
    clock = Clock()
    clock.advance(1_800_000_000)
    handler = Handler()
    conf = _conf(second=5, minute=5, hour=100)
    ctx = _run(handler, clock, conf)
    assert ctx.response_headers.get("RateLimit-Limit") == "5"
    assert ctx.response_headers.get("RateLimit-Remaining") == "4"
    assert ctx.response_headers.get("RateLimit-Reset") == "60"  # minute wins the tie with second
    assert ctx.response_headers.get("X-RateLimit-Remaining-Hour") == "99"


def test_blocked_by_second_does_not_use_the_hour():
    """A request refused by one period leaves the others untouched (headers say so)."""
    clock = Clock()
    clock.advance(1_800_000_000)
    handler = Handler()
    conf = _conf(second=1, hour=10)
    _run(handler, clock, conf)
    blocked = _run(handler, clock, conf)
    headers = dict(blocked.headers)
    assert headers["X-RateLimit-Remaining-Second"] == "0"
    assert headers["X-RateLimit-Remaining-Hour"] == "9"
    assert headers["Retry-After"] == "1"


def test_identifiers():
    """consumer > credential > IP; header value; path only when equal to config.path."""
    plan = RateLimitPlan(_conf(minute=1))
    ctx = _ctx(Clock(), path="/a", headers=[("X-Tenant", "t1")])
    assert plan.identifier(ctx) == "10.0.0.1"
    ctx.credential = {"id": "cred"}
    assert plan.identifier(ctx) == "cred"
    ctx.consumer = {"id": "cons"}
    assert plan.identifier(ctx) == "cons"
    assert RateLimitPlan(_conf(minute=1, limit_by="credential")).identifier(ctx) == "cred"
    by_header = RateLimitPlan(_conf(minute=1, limit_by="header", header_name="x-tenant"))
    assert by_header.identifier(ctx) == "t1"
    assert RateLimitPlan(_conf(minute=1, limit_by="path", path="/a")).identifier(ctx) == "/a"
    assert RateLimitPlan(_conf(minute=1, limit_by="path", path="/b")).identifier(ctx) == "10.0.0.1"
    assert RateLimitPlan(_conf(minute=1, limit_by="service")).identifier(ctx) == "10.0.0.1"
    ctx.service = {"id": "svc"}
    assert RateLimitPlan(_conf(minute=1, limit_by="service")).identifier(ctx) == "svc"


def test_counter_keys_use_kongs_format_and_the_plugins_scope():
    """ratelimit:<route>:<service>:<identifier>:<window start ms>:<period>."""
    plan = RateLimitPlan(_conf(minute=3), route_id="r1")
    (hit,) = plan.hits("1.2.3.4", plan.windows(120.5))
    assert hit.key == f"ratelimit:r1:{NO_ID}:1.2.3.4:120000:minute"
    assert (hit.limit, hit.cost, hit.expires) == (3.0, 1, 180)


def test_numbers_print_as_lua_does():
    """Integral limits print without a decimal point."""
    assert format_number(5.0) == "5"
    assert format_number(2.5) == "2.5"


class _Down:
    def hit(self, hits, strict) -> Deferred:
        return fail(CounterUnavailable("redis 127.0.0.1:1: timed out"))


@pytest.mark.parametrize("tolerant", [True, False])
def test_store_unavailable(tolerant: bool):
    """fault_tolerant: through without headers, the failure logged; otherwise Kong's 500."""
    clock = Clock()
    handler = Handler()
    conf = CompiledConfig.of(handler, _conf(minute=1, fault_tolerant=tolerant), {})
    handler.compiled(conf).store = _Down()
    ctx = _ctx(clock)
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    try:
        d = handler.access(ctx, conf)
    finally:
        globalLogPublisher.removeObserver(events.append)
    logged = [e for e in events if "failed to get usage" in e.get("log_format", "")]
    assert logged and "timed out" in logged[0]["err"]
    if tolerant:
        assert result_of(d) is None
        handler.header_filter(ctx, conf)
        assert "X-RateLimit-Limit-Minute" not in ctx.response_headers
    else:
        exc = failure_of(d, ProxyExit).value
        assert (exc.status, exc.message) == (500, "An unexpected error occurred")


def test_async_store_outcome_applies_the_same_rules():
    """A store answering later (redis, cluster) blocks and adds headers like the local one."""
    clock = Clock()
    handler = Handler()
    conf = CompiledConfig.of(handler, _conf(minute=1), {})

    class _Later:
        def hit(self, hits, strict):
            d = Deferred()
            d.callback(Outcome(0, (1,)))
            return d

    handler.compiled(conf).store = _Later()
    exc = failure_of(handler.access(_ctx(clock), conf), ProxyExit).value
    assert exc.status == 429
