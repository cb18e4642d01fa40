"""correlation-id: generators, keeping a client id, log extras and echo_downstream."""

from __future__ import annotations

import os
import re
from typing import Any

from twisted.internet.task import Clock

from kongtx.http.headers import Headers
from kongtx.plugins.correlation_id.handler import CorrelationIdHandler as Handler
from kongtx.plugins.correlation_id.schema import CONFIG
from kongtx.plugins.testing import make_context
from kongtx.proxy.context import ProxyContext
from kongtx.schema.fields import fill_record

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _conf(**fields: Any) -> dict[str, Any]:
    conf = fill_record(CONFIG.fields, fields)
    assert CONFIG.validate(conf) is None
    return conf


def _ctx(headers: list[tuple[str, str]] | None = None, clock: Clock | None = None) -> ProxyContext:
    return make_context(headers=headers or [], clock=clock)


def test_defaults() -> None:
    """Kong's defaults: Kong-Request-ID, uuid#counter, no echo."""
    assert _conf() == {
        "header_name": "Kong-Request-ID",
        "generator": "uuid#counter",
        "echo_downstream": False,
    }
    assert CONFIG.validate({**_conf(), "generator": "nope"}) == {
        "generator": "expected one of: uuid, uuid#counter, tracker"
    }


def test_uuid_counter_increments() -> None:
    """uuid#counter is one process uuid and a counter growing by one."""
    handler = Handler()
    ids = []
    for _ in range(2):
        ctx = _ctx()
        handler.access(ctx, _conf())
        ids.append(ctx.request.headers.get("kong-request-id"))
    first, second = (re.fullmatch(f"({UUID})#(\\d+)", i) for i in ids)
    assert first and second and first.group(1) == second.group(1)
    assert int(second.group(2)) == int(first.group(2)) + 1


def test_uuid_generator_and_log_extras() -> None:
    """uuid makes a fresh UUID per request, recorded as the log's correlation_id."""
    handler = Handler()
    ctx1, ctx2 = _ctx(), _ctx()
    handler.access(ctx1, _conf(generator="uuid", header_name="X-Id"))
    handler.access(ctx2, _conf(generator="uuid", header_name="X-Id"))
    one, two = ctx1.request.headers.get("x-id"), ctx2.request.headers.get("x-id")
    assert re.fullmatch(UUID, one or "") and one != two
    assert ctx1.log_extras["correlation_id"] == one


def test_tracker_format() -> None:
    """tracker is addr-port-pid-connection-requests-time with a millisecond timestamp."""
    clock = Clock()
    clock.advance(1700000000.25)
    ctx = _ctx(clock=clock)
    Handler().access(ctx, _conf(generator="tracker"))
    value = ctx.request.headers.get("kong-request-id") or ""
    assert re.fullmatch(rf"\d+\.\d+\.\d+\.\d+-8000-{os.getpid()}-\d+-\d+-1700000000\.250", value), (
        value
    )


def test_client_id_is_kept_and_blank_replaced() -> None:
    """A non-empty client id is kept; an empty or blank one is replaced."""
    handler = Handler()
    ctx = _ctx([("Kong-Request-ID", "client-id")])
    handler.access(ctx, _conf())
    assert ctx.request.headers.get_all("kong-request-id") == ["client-id"]
    assert ctx.log_extras["correlation_id"] == "client-id"
    ctx = _ctx([("Kong-Request-ID", " ")])
    handler.access(ctx, _conf())
    assert ctx.request.headers.get("kong-request-id", "").strip() not in ("", " ")


def test_echo_downstream() -> None:
    """With echo_downstream the same id is set on the response; without it nothing is added."""
    handler = Handler()
    conf = _conf(echo_downstream=True)
    ctx = _ctx()
    handler.access(ctx, conf)
    ctx.response_headers = Headers()
    handler.header_filter(ctx, conf)
    assert ctx.response_headers.get("kong-request-id") == ctx.request.headers.get("kong-request-id")
    ctx = _ctx()
    handler.access(ctx, _conf())
    ctx.response_headers = Headers()
    handler.header_filter(ctx, _conf())
    assert "kong-request-id" not in ctx.response_headers


def test_echo_without_access_generates() -> None:
    """When access did not run (e.g. no route matched), header_filter still echoes an id."""
    ctx = _ctx()
    ctx.response_headers = Headers()
    Handler().header_filter(ctx, _conf(echo_downstream=True, generator="uuid"))
    assert re.fullmatch(UUID, ctx.response_headers.get("kong-request-id") or "")
