"""``/status``: nginx-style connection counters of the proxy listeners and Kong's memory block."""

from __future__ import annotations

from typing import Any

import pytest_twisted
from twisted.internet import reactor, task

from tests.integration.harness import gateway_and_upstream, raw_connect


async def _server_until(gw: Any, check: Any, timeout: float = 5.0) -> dict[str, int]:
    """Poll ``/status`` until ``check(server)`` holds (the gateway reads sockets asynchronously)."""
    deadline = reactor.seconds() + timeout
    while True:
        server = (await gw.admin("GET", "/status")).json["server"]
        if check(server) or reactor.seconds() > deadline:
            return server
        await task.deferLater(reactor, 0.02, lambda: None)


@pytest_twisted.ensureDeferred
async def test_connection_states_as_nginx_counts_them(tmp_path, frontend):
    """An idle connection waits, a partial head reads, a request in flight writes; closing
    ends them; accepted/handled/total_requests only grow."""
    async with gateway_and_upstream(
        tmp_path, frontend, service="echo", routes={"r": "/"}, plugins="off"
    ) as (gw, _):
        port = gw.node.port_of("proxy")
        base = (await gw.admin("GET", "/status")).json["server"]
        assert set(base) == {
            "total_requests",
            "connections_active",
            "connections_accepted",
            "connections_handled",
            "connections_reading",
            "connections_writing",
            "connections_waiting",
        }
        idle = await raw_connect(port)
        partial = await raw_connect(port)
        partial.transport.write(b"GET /x HTTP/1.1\r\nHost: a\r\n")
        busy = await raw_connect(port)
        busy.transport.write(b"GET /delay/1 HTTP/1.1\r\nHost: a\r\n\r\n")

        def in_flight(s: dict[str, int]) -> bool:
            return (
                s["connections_active"] == base["connections_active"] + 3
                and s["connections_reading"] == base["connections_reading"] + 1
                and s["connections_writing"] == base["connections_writing"] + 1
            )

        server = await _server_until(gw, in_flight)
        assert in_flight(server), (base, server)
        assert server["connections_waiting"] == base["connections_waiting"] + 1
        assert server["connections_accepted"] == base["connections_accepted"] + 3
        assert server["connections_handled"] == server["connections_accepted"]
        assert server["total_requests"] == base["total_requests"] + 2
        assert server["connections_active"] == (
            server["connections_reading"]
            + server["connections_writing"]
            + server["connections_waiting"]
        )

        idle.transport.loseConnection()
        partial.transport.loseConnection()

        def answered(s: dict[str, int]) -> bool:
            return (
                s["connections_active"] == base["connections_active"] + 1
                and s["connections_waiting"] == base["connections_waiting"] + 1
                and s["connections_writing"] == base["connections_writing"]
            )

        server = await _server_until(gw, answered)
        assert answered(server), (base, server)
        assert b"HTTP/1.1 200" in busy.data
        busy.transport.loseConnection()
        await busy.closed
        server = await _server_until(
            gw, lambda s: s["connections_active"] == base["connections_active"]
        )
        assert server["connections_active"] == base["connections_active"]
        assert server["connections_accepted"] == base["connections_accepted"] + 3


@pytest_twisted.ensureDeferred
async def test_status_memory_units(tmp_path):
    """memory in MiB by default, ?unit=b as integers, ?unit=k&scale=1, Kong's 400s for bad values."""
    async with gateway_and_upstream(tmp_path, "native", plugins="off") as (gw, _):
        status = (await gw.admin("GET", "/status")).json
        (vm,) = status["memory"]["workers_lua_vms"]
        assert vm["http_allocated_gc"].endswith(" MiB") and isinstance(vm["pid"], int)
        assert status["memory"]["lua_shared_dicts"] == {}
        in_bytes = (await gw.admin("GET", "/status?unit=b")).json["memory"]
        assert isinstance(in_bytes["workers_lua_vms"][0]["http_allocated_gc"], int)
        assert in_bytes["workers_lua_vms"][0]["http_allocated_gc"] > 1_000_000
        kib = (await gw.admin("GET", "/status?unit=K&scale=1")).json["memory"]
        value, suffix = kib["workers_lua_vms"][0]["http_allocated_gc"].split(" ")
        assert suffix == "KiB" and len(value.split(".")[1]) == 1
        reply = await gw.admin("GET", "/status?unit=x")
        assert reply.status == 400
        assert reply.json == {"message": "invalid unit 'x' (expected 'k/K', 'm/M', or 'g/G')"}
        reply = await gw.admin("GET", "/status?unit=k&scale=-1")
        assert reply.status == 400
        assert reply.json == {"message": "scale must be equal or greater than 0"}
