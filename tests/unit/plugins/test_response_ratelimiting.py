"""response-ratelimiting's sans-IO parts: usage parsing, counters, headers, blocking."""

from __future__ import annotations

from twisted.internet.task import Clock

from kongtx.errors import ProxyExit
from kongtx.http.headers import Headers
from kongtx.plugins.response_ratelimiting.handler import ResponseRatelimitingHandler as Handler
from kongtx.plugins.response_ratelimiting.plan import ResponseLimitPlan, parse_usage
from kongtx.plugins.testing import make_context, make_request
from kongtx.proxy.context import ProxyContext


def _conf(**changes) -> dict:
    return {
        "header_name": "x-kong-limit",
        "limit_by": "consumer",
        "policy": "local",
        "fault_tolerant": True,
        "block_on_first_violation": False,
        "hide_client_headers": False,
        "limits": {"videos": {"minute": 2, "hour": 10}, "images": {"second": 1}},
        **changes,
    }


def _ctx(clock: Clock, usage: list[str]) -> ProxyContext:
    request = make_request("GET", "/", [("Host", "x")], client_ip="10.0.0.9", server_port=80)
    ctx = make_context(request=request, clock=clock)
    ctx.response_status = 200
    ctx.response_headers = Headers(
        [("Content-Type", "text/plain"), *[("X-Kong-Limit", u) for u in usage]]
    )
    return ctx


def test_parse_usage_like_kong():
    """name=n pairs, comma separated, over several headers; unknown names and junk ignored."""
    names = {"videos", "images"}
    assert parse_usage(["videos=2, images = 1", "bogus=3", "videos"], names) == {
        "videos": 2,
        "images": 1,
    }
    assert parse_usage(["videos=x", "a=b=c"], names) == {}
    assert parse_usage(["images=1", "images=4"], names) == {"images": 4}


def test_entries_are_ordered_and_keyed():
    """One counter per (name, period); keys carry the window start and name_period."""
    plan = ResponseLimitPlan(_conf(), route_id="r")
    assert plan.entries == [
        ("images", "second", 1.0),
        ("videos", "minute", 2.0),
        ("videos", "hour", 10.0),
    ]
    hits = plan.hits("1.2.3.4", plan.windows(3600.5), {"videos": 2})
    assert [h.cost for h in hits] == [0, 2, 2]
    assert hits[1].key.startswith("response-ratelimit:r:") and hits[1].key.endswith(
        ":3600000:videos_minute"
    )
    assert hits[1].period == "videos_minute"


def test_handler_counts_usage_and_blocks_after_the_quota():
    """Usage counts down; with no quota left a response using it becomes an empty 429."""
    clock = Clock()
    clock.advance(7200)
    handler = Handler()
    conf = _conf()

    def one(usage: list[str]) -> ProxyContext:
        ctx = _ctx(clock, usage)
        assert handler.access(ctx, conf) is None
        assert handler.header_filter(ctx, conf) is None
        return ctx

    ctx = one(["videos=2"])
    assert ctx.request.headers.get("X-RateLimit-Remaining-videos") == "2"
    assert ctx.response_headers.get("X-RateLimit-Remaining-videos-minute") == "0"
    assert ctx.response_headers.get("X-RateLimit-Remaining-videos-hour") == "8"
    assert "x-kong-limit" not in ctx.response_headers
    ctx = one(["videos=1"])
    assert ctx.response_status == 429
    assert ctx.response_headers.get("Content-Length") == "0"
    assert handler.body_filter(ctx, conf, b"upstream body", True) == b""
    # As Kong shows it: what was left minus this response's usage (nothing was counted).
    assert ctx.response_headers.get("X-RateLimit-Remaining-videos-hour") == "7"
    ctx = one(["images=1"])
    assert ctx.response_status == 200
    assert handler.body_filter(ctx, conf, b"kept", True) is None
    clock.advance(60)
    assert one(["videos=1"]).response_status == 200


def test_block_on_first_violation_answers_at_access():
    """An exhausted name blocks the next request before it reaches the upstream."""
    clock = Clock()
    handler = Handler()
    conf = _conf(block_on_first_violation=True, limits={"videos": {"minute": 1}})
    ctx = _ctx(clock, ["videos=1"])
    handler.access(ctx, conf)
    handler.header_filter(ctx, conf)
    try:
        handler.access(_ctx(clock, []), conf)
    except ProxyExit as exc:
        assert exc.status == 429
        assert exc.body == {"message": "API rate limit exceeded for 'videos'"}
    else:
        raise AssertionError("expected a 429")
