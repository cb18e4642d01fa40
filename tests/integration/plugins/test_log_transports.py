"""tcp-log, udp-log, http-log and file-log end to end: the serialized entry at real receivers,
every option, batching and retries, rotation, and a sink that is down."""

from __future__ import annotations

import base64
import json
import os
import time

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred

from kongtx import tls
from kongtx.logsinks import reopen
from kongtx.logsinks.stats import SINK_STATS
from tests.support.receivers import (
    start_http_collector,
    start_tcp_receiver,
    start_udp_receiver,
)

PLUGINS = "key-auth,tcp-log,udp-log,http-log,file-log"
ROUTES = {"r1": "/r1"}


def _sleep(seconds: float) -> Deferred[None]:
    d: Deferred[None] = Deferred()
    reactor.callLater(seconds, d.callback, None)
    return d


async def _consumer_with_key(gw, key="secret-key"):
    reply = await gw.admin("POST", "/consumers", {"username": "alice", "custom_id": "a-1"})
    consumer = reply.json
    reply = await gw.admin("POST", "/consumers/alice/key-auth", {"key": key})
    return consumer, reply.json


@pytest_twisted.ensureDeferred
async def test_tcp_log_entry_for_authenticated_consumer(env):
    """tcp-log sends Kong's serialized entry as a JSON line: consumer, credential, route, service,
    redacted Authorization, query table, latencies, tries, upstream_uri."""
    gw, upstream = env
    rx = await start_tcp_receiver()
    try:
        await gw.route_with_plugin("tl", "key-auth", {})
        await gw.admin(
            "POST",
            "/routes/tl/plugins",
            {"name": "tcp-log", "config": {"host": "127.0.0.1", "port": rx.port}},
        )
        consumer, cred = await _consumer_with_key(gw)
        reply = await gw.proxy(
            "GET",
            "/tl/x?a=1&a=2&flag",
            headers={"apikey": "secret-key", "Authorization": "Bearer top-secret"},
        )
        assert reply.status == 200
        (line,) = await rx.wait_for(1)
        entry = json.loads(line)
        request = entry["request"]
        assert request["method"] == "GET"
        assert request["uri"] == "/tl/x?a=1&a=2&flag"
        assert request["url"] == f"http://127.0.0.1:{gw.node.port_of('proxy')}/tl/x?a=1&a=2&flag"
        assert request["querystring"] == {"a": ["1", "2"], "flag": True}
        assert request["headers"]["authorization"] == "REDACTED"
        assert request["headers"]["apikey"] == "secret-key"
        assert request["id"] == reply.header("x-kong-request-id")
        assert isinstance(request["size"], int) and request["size"] > 50
        assert entry["upstream_uri"] == "/x?a=1&a=2&flag"
        assert entry["upstream_status"] == "200"
        assert entry["response"]["status"] == 200
        assert entry["response"]["headers"]["content-type"] == "application/json"
        assert entry["response"]["size"] > len(reply.body)
        assert entry["authenticated_entity"] == {"id": cred["id"], "consumer_id": consumer["id"]}
        assert entry["consumer"]["id"] == consumer["id"]
        assert entry["consumer"]["username"] == "alice"
        assert entry["route"]["name"] == "tl" and entry["service"]["name"] == "svc"
        assert entry["source"] == "service" and entry["client_ip"] == "127.0.0.1"
        assert entry["tries"][0]["ip"] == "127.0.0.1" and entry["tries"][0]["port"] == upstream.port
        latencies = entry["latencies"]
        assert set(latencies) == {"kong", "proxy", "request", "receive"}
        assert latencies["proxy"] >= 0 and latencies["request"] >= latencies["proxy"]
        assert abs(entry["started_at"] - time.time() * 1000) < 60000
        # keepalive: a second entry uses the same connection
        await gw.proxy("GET", "/tl", headers={"apikey": "secret-key"})
        await rx.wait_for(2)
        assert len(rx.connections) == 1
    finally:
        await rx.stop()


@pytest_twisted.ensureDeferred
async def test_tcp_log_over_tls_with_sni(env):
    """tls = true wraps the connection in TLS and sends tls_sni."""
    gw, _ = env
    seen: list[str] = []

    def lookup(name):
        seen.append(name)
        return None

    context = tls.SNIServerContextFactory(lookup, *tls.make_certificate("logs.test", key_type="ec"))
    rx = await start_tcp_receiver(context)
    try:
        config = {"host": "127.0.0.1", "port": rx.port, "tls": True, "tls_sni": "logs.example.test"}
        await gw.route_with_plugin("tls", "tcp-log", config)
        assert (await gw.proxy("GET", "/tls")).status == 200
        (line,) = await rx.wait_for(1)
        assert json.loads(line)["route"]["name"] == "tls"
        assert seen == ["logs.example.test"]
    finally:
        await rx.stop()


@pytest_twisted.ensureDeferred
async def test_udp_log_unmatched_route_and_custom_fields(env):
    """A global udp-log sends one datagram per request, also for a 404 (no route/service keys,
    source kong, proxy latency -1); custom fields add, template and remove fields."""
    gw, _ = env
    rx = await start_udp_receiver()
    try:
        config = {
            "host": "127.0.0.1",
            "port": rx.port,
            "custom_fields": {
                "region": "eu-west",
                "request.headers.x-who": "user $(headers.x_user)",
                "request.headers.user-agent": "$(nil)",
            },
            "custom_fields_by_lua": {"lua_field": 'return "from lua"'},
        }
        reply = await gw.admin("POST", "/plugins", {"name": "udp-log", "config": config})
        assert reply.status == 201, reply
        assert (await gw.proxy("GET", "/nowhere", headers={"X-User": "bob"})).status == 404
        (datagram,) = await rx.wait_for(1)
        entry = json.loads(datagram)
        assert entry["response"]["status"] == 404 and entry["source"] == "exit"
        assert "route" not in entry and "service" not in entry and "upstream_uri" not in entry
        assert entry["latencies"]["proxy"] == -1
        assert entry["region"] == "eu-west" and entry["lua_field"] == "from lua"
        assert entry["request"]["headers"]["x-who"] == "user bob"
        assert "user-agent" not in entry["request"]["headers"]
        bad = {"host": "127.0.0.1", "port": 1, "custom_fields_by_lua": {"f": "os.exit()"}}
        reply = await gw.admin("POST", "/plugins", {"name": "udp-log", "config": bad})
        assert reply.status == 400
        assert "custom_fields_by_lua" in json.dumps(reply.json["fields"])
    finally:
        await rx.stop()


@pytest_twisted.ensureDeferred
async def test_http_log_batches_and_retries_until_collector_recovers(env):
    """http-log batches entries into a JSON array, retries while the collector answers 500,
    and delivers once it recovers; userinfo becomes Basic auth; method and headers as configured."""
    gw, _ = env
    collector = await start_http_collector()
    collector.fail_first = 2
    try:
        config = {
            "http_endpoint": f"http://user:p%40ss@127.0.0.1:{collector.port}/logs",
            "method": "PUT",
            "content_type": "application/json; charset=utf-8",
            "headers": {"X-Tenant": "t1"},
            "queue": {"max_batch_size": 3, "max_coalescing_delay": 5, "initial_retry_delay": 0.05},
        }
        await gw.route_with_plugin("hl", "http-log", config)
        for i in range(3):
            assert (await gw.proxy("GET", f"/hl?i={i}")).status == 200
        (posted,) = await collector.wait_for(1)
        assert collector.attempts == 3
        assert posted["method"] == "PUT" and posted["path"] == "/logs"
        headers = posted["headers"]
        assert headers["authorization"] == "Basic " + base64.b64encode(b"user:p@ss").decode()
        assert headers["x-tenant"] == "t1"
        assert headers["content-type"] == "application/json; charset=utf-8"
        entries = json.loads(posted["body"])
        assert [e["request"]["querystring"]["i"] for e in entries] == ["0", "1", "2"]
    finally:
        await collector.stop()


@pytest_twisted.ensureDeferred
async def test_http_log_single_entry_over_https(env):
    """With max_batch_size 1 the body is the entry itself; https collectors work (not verified)."""
    gw, _ = env
    context = tls.SNIServerContextFactory(
        lambda n: None, *tls.make_certificate("c.test", key_type="ec")
    )
    collector = await start_http_collector(context)
    try:
        config = {
            "http_endpoint": f"https://127.0.0.1:{collector.port}/",
            "queue": {"max_coalescing_delay": 0},
        }
        await gw.route_with_plugin("hs", "http-log", config)
        await gw.proxy("POST", "/hs", data=b"abc")
        (posted,) = await collector.wait_for(1)
        assert posted["method"] == "POST"
        assert json.loads(posted["body"])["request"]["method"] == "POST"
        reply = await gw.admin(
            "POST",
            "/plugins",
            {
                "name": "http-log",
                "config": {
                    "http_endpoint": "http://u:p@x.test/",
                    "headers": {"Authorization": "x"},
                },
            },
        )
        assert reply.status == 400
    finally:
        await collector.stop()


@pytest_twisted.ensureDeferred
async def test_file_log_appends_and_reopens_after_rotation(env, tmp_path):
    """file-log appends JSON lines (mode 0644); after a rotation (rename) SIGUSR1's reopen
    makes it write to a new file at the configured path; reopen = true reopens every time."""
    gw, _ = env
    path = tmp_path / "requests.log"
    await gw.route_with_plugin("fl", "file-log", {"path": str(path)})

    async def lines(p, n):
        for _ in range(200):
            if p.exists() and len(p.read_bytes().splitlines()) >= n:
                return [json.loads(x) for x in p.read_bytes().splitlines()]
            await _sleep(0.02)
        raise AssertionError(f"{p} did not get {n} lines")

    await gw.proxy("GET", "/fl?n=1")
    assert (await lines(path, 1))[0]["request"]["querystring"] == {"n": "1"}
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    rotated = tmp_path / "requests.log.1"
    os.rename(path, rotated)
    await gw.proxy("GET", "/fl?n=2")
    await lines(rotated, 2)  # still the open (renamed) file
    assert reopen.reopen_all() >= 1
    await gw.proxy("GET", "/fl?n=3")
    assert [e["request"]["querystring"]["n"] for e in await lines(path, 1)] == ["3"]

    other = tmp_path / "each.log"
    await gw.route_with_plugin("fe", "file-log", {"path": str(other), "reopen": True})
    await gw.proxy("GET", "/fe")
    await lines(other, 1)
    os.rename(other, tmp_path / "each.log.1")
    await gw.proxy("GET", "/fe")
    await lines(other, 1)
    reply = await gw.admin("POST", "/plugins", {"name": "file-log", "config": {"path": "a*b"}})
    assert reply.status == 400 and reply.json["fields"]["config"]["path"] == "not a valid filename"


@pytest_twisted.ensureDeferred
async def test_sink_down_costs_the_proxy_nothing_and_drops_are_counted(env):
    """A collector that never answers and a TCP receiver that is gone: responses are as fast as
    without logging, the queues stay bounded and the dropped entries are counted."""
    gw, _ = env
    collector = await start_http_collector()
    collector.hang = True
    dead = await start_tcp_receiver()
    dead_port = dead.port
    await dead.stop()
    try:
        config = {
            "http_endpoint": f"http://127.0.0.1:{collector.port}/",
            "timeout": 60000,
            "queue": {"max_batch_size": 1, "max_entries": 2, "max_coalescing_delay": 0},
        }
        await gw.route_with_plugin("down", "http-log", config)
        await gw.admin(
            "POST",
            "/routes/down/plugins",
            {"name": "tcp-log", "config": {"host": "127.0.0.1", "port": dead_port}},
        )
        before = SINK_STATS.dropped_by_plugin().get("http-log", 0)

        async def timed(path, n):
            started = time.perf_counter()
            for _ in range(n):
                assert (await gw.proxy("GET", path)).status == 200
            return (time.perf_counter() - started) / n

        baseline = await timed("/r1", 20)
        with_sinks_down = await timed("/down", 20)
        # The collector would hold a request for its 60 s timeout if the log phase blocked it;
        # the margin only absorbs scheduling noise on a loaded machine (other suites, CI).
        assert with_sinks_down < baseline * 3 + 0.1, (baseline, with_sinks_down)
        # one request hangs at the collector, one waits: the other 18 were dropped
        assert SINK_STATS.dropped_by_plugin()["http-log"] - before == 18
    finally:
        await collector.stop()
