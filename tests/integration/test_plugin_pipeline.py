"""The plugin pipeline through the real gateway, with a third-party plugin found by entry point."""

from __future__ import annotations

from pathlib import Path

import pytest_twisted
from twisted.internet import reactor
from twisted.logger import globalLogPublisher

from tests.integration.harness import gateway_and_upstream

EXAMPLE = Path(__file__).resolve().parent.parent / "example_plugin"


@pytest_twisted.async_yield_fixture
async def env(tmp_path, frontend, monkeypatch):
    # The example plugin is "installed" by putting its dist-info on sys.path:
    # importlib.metadata then finds its kongtx.plugins entry point.
    monkeypatch.syspath_prepend(str(EXAMPLE))
    async with gateway_and_upstream(
        tmp_path,
        frontend,
        plugins="example-header",
        service="svc",
        routes={"r1": "/r1", "r2": "/r2"},
    ) as pair:
        yield pair


async def _plugin(gw, path, **config):
    reply = await gw.admin("POST", path, {"name": "example-header", "config": config})
    assert reply.status == 201, reply
    return reply.json


@pytest_twisted.ensureDeferred
async def test_entry_point_plugin_is_loaded_and_validated(env):
    """The third-party plugin is enabled, has a schema endpoint, and its config is validated."""
    gw, _ = env
    enabled = (await gw.admin("GET", "/plugins/enabled")).json
    assert "example-header" in enabled["enabled_plugins"]
    schema = await gw.admin("GET", "/schemas/plugins/example-header")
    assert schema.status == 200
    bad = await gw.admin(
        "POST", "/plugins", {"name": "example-header", "config": {"delay": "soon"}}
    )
    assert bad.status == 400
    assert bad.json["fields"]["config"]["delay"] == "expected a number"
    unknown = await gw.admin("POST", "/plugins", {"name": "nope"})
    assert unknown.status == 400
    assert "plugin 'nope' not enabled" in unknown.json["fields"]["name"]
    assert (await gw.admin("GET", "/plugins")).json["data"] == []


@pytest_twisted.ensureDeferred
async def test_scoping_most_specific_instance_runs(env):
    """Global, service, route: only the most specific instance of a plugin runs."""
    gw, upstream = env
    await _plugin(gw, "/plugins", value="global")
    reply = await gw.proxy("GET", "/r1")
    assert reply.json["headers"]["x-example"] == "global"
    assert reply.header("x-example") == "global"
    await _plugin(gw, "/services/svc/plugins", value="service")
    assert (await gw.proxy("GET", "/r1")).json["headers"]["x-example"] == "service"
    await _plugin(gw, "/routes/r1/plugins", value="route")
    assert (await gw.proxy("GET", "/r1")).json["headers"]["x-example"] == "route"
    assert (await gw.proxy("GET", "/r2")).json["headers"]["x-example"] == "service"
    both = await gw.admin(
        "POST",
        "/plugins",
        {
            "name": "example-header",
            "config": {"value": "route+service"},
            "route": {"id": (await gw.admin("GET", "/routes/r1")).json["id"]},
            "service": {"id": (await gw.admin("GET", "/services/svc")).json["id"]},
        },
    )
    assert both.status == 201, both
    assert (await gw.proxy("GET", "/r1")).json["headers"]["x-example"] == "route+service"
    disabled = await gw.admin("PATCH", f"/plugins/{both.json['id']}", {"enabled": False})
    assert disabled.status == 200
    assert (await gw.proxy("GET", "/r1")).json["headers"]["x-example"] == "route"


@pytest_twisted.ensureDeferred
async def test_hook_returning_a_deferred_that_fires_later(env):
    """An access hook may return a Deferred; the request waits for it, then proceeds."""
    gw, _ = env
    await _plugin(gw, "/routes/r1/plugins", value="late", delay=0.2)
    started = reactor.seconds()
    reply = await gw.proxy("GET", "/r1")
    assert reply.status == 200
    assert reply.json["headers"]["x-example"] == "late"
    assert reactor.seconds() - started >= 0.2


@pytest_twisted.ensureDeferred
async def test_raising_plugin_gives_500_logs_and_gateway_keeps_serving(env):
    """A hook that raises: Kong's 500, the error is logged, other requests still work."""
    gw, upstream = env
    await _plugin(gw, "/routes/r1/plugins", fail=True)
    events = []
    globalLogPublisher.addObserver(events.append)
    try:
        reply = await gw.proxy("GET", "/r1", headers={"Accept": "application/json"})
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert reply.status == 500
    assert reply.json["message"] == "An unexpected error occurred"
    assert b"Traceback" not in reply.body and b"hunter2" not in reply.body
    assert any(
        e.get("log_failure") is not None
        and "example plugin asked to fail" in str(e["log_failure"].value)
        for e in events
    )
    assert upstream.requests == []
    assert (await gw.proxy("GET", "/r2")).status == 200


@pytest_twisted.ensureDeferred
async def test_log_phase_runs_after_the_response_and_for_exits(env):
    """log hooks see the final status and size, for proxied answers and plugin exits alike."""
    from kongtx_example.handler import LOGGED
    from twisted.internet import task

    gw, _ = env
    LOGGED.clear()
    await _plugin(gw, "/routes/r1/plugins", value="x")
    await _plugin(gw, "/routes/r2/plugins", fail=True)
    ok = await gw.proxy("GET", "/r1")
    failed = await gw.proxy("GET", "/r2")
    for _ in range(100):  # the log phase runs once the last byte is out: give it a moment
        if len(LOGGED) >= 2:
            break
        await task.deferLater(reactor, 0.01, lambda: None)
    by_id = {request_id: (status, size) for status, request_id, size in LOGGED}
    assert by_id[ok.header("x-kong-request-id")] == (200, len(ok.body))
    assert by_id[failed.header("x-kong-request-id")][0] == 500
