"""prometheus end to end: Kong's metrics at the Admin API's and the Status API's /metrics,
parsed with prometheus_client, and the worker processes of a node added up in one scrape."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest_twisted
from prometheus_client.parser import text_string_to_metric_families

from kongtx.logsinks.stats import SINK_STATS
from tests.integration.harness import gateway_and_upstream
from tests.integration.worker_nodes import upstream as upstream  # noqa: F401 - fixture

SWITCHES = {
    "per_consumer": True,
    "status_code_metrics": True,
    "latency_metrics": True,
    "bandwidth_metrics": True,
    "upstream_health_metrics": True,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _parse(body: bytes) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


def _samples(families: dict[str, Any], family: str, name: str | None = None) -> list[Any]:
    return [s for s in families[family].samples if name is None or s.name == name]


@pytest_twisted.ensureDeferred
async def test_metrics_on_admin_and_status_api(tmp_path, frontend):
    """Requests by an authenticated consumer, unmatched and failing: Kong's counters, the three
    histograms, bandwidth, node gauges and target health at the Admin API; the Status API
    serves /status and /metrics and nothing else."""
    status_port = free_port()
    async with gateway_and_upstream(
        tmp_path,
        frontend,
        service="svc",
        plugins="key-auth,prometheus",
        status_listen=f"127.0.0.1:{status_port}",
    ) as (gw, upstream):
        reply = await gw.admin("POST", "/plugins", {"name": "prometheus", "config": SWITCHES})
        assert reply.status == 201, reply
        await gw.route_with_plugin("pr", "key-auth", {})
        await gw.admin("POST", "/consumers", {"username": "alice"})
        await gw.admin("POST", "/consumers/alice/key-auth", {"key": "k1"})
        await gw.admin("POST", "/upstreams", {"name": "up1"})
        await gw.admin("POST", "/upstreams/up1/targets", {"target": f"127.0.0.1:{upstream.port}"})
        for _ in range(3):
            assert (await gw.proxy("GET", "/pr", headers={"apikey": "k1"})).status == 200
        assert (await gw.proxy("GET", "/pr")).status == 401
        assert (await gw.proxy("GET", "/nowhere")).status == 404
        assert (await gw.proxy("GET", "/pr/status/503", headers={"apikey": "k1"})).status == 503

        reply = await gw.request("GET", gw.admin_url + "/metrics")
        assert reply.status == 200
        assert reply.header("content-type") == "text/plain; version=0.0.4; charset=utf-8"
        families = _parse(reply.body)
        requests = {
            (
                s.labels["service"],
                s.labels["route"],
                s.labels["code"],
                s.labels["source"],
                s.labels["consumer"],
            ): s.value
            for s in _samples(families, "kong_http_requests")
        }
        assert requests == {
            ("svc", "pr", "200", "service", "alice"): 3,
            ("svc", "pr", "401", "exit", ""): 1,
            ("", "", "404", "exit", ""): 1,
            ("svc", "pr", "503", "service", "alice"): 1,
        }
        assert {s.labels["workspace"] for s in _samples(families, "kong_http_requests")} == {
            "default"
        }
        counts = {
            s.labels["route"]: s.value
            for s in _samples(families, "kong_request_latency_ms", "kong_request_latency_ms_count")
        }
        assert counts == {"pr": 5, "": 1}
        upstream_counts = _samples(
            families, "kong_upstream_latency_ms", "kong_upstream_latency_ms_count"
        )
        assert [s.value for s in upstream_counts] == [4]  # only proxied requests
        kong_buckets = _samples(families, "kong_kong_latency_ms", "kong_kong_latency_ms_bucket")
        assert {s.labels["le"] for s in kong_buckets} >= {"1.0", "6000.0", "+Inf"}
        bandwidth = {
            (s.labels["direction"], s.labels["consumer"]): s.value
            for s in _samples(families, "kong_bandwidth_bytes")
            if s.labels["route"] == "pr"
        }
        assert bandwidth[("egress", "alice")] > 0 and bandwidth[("ingress", "alice")] > 0
        (info,) = _samples(families, "kong_node_info")
        assert info.labels["node_id"] == gw.node.node_id
        assert _samples(families, "kong_datastore_reachable")[0].value == 1
        (total,) = _samples(families, "kong_nginx_requests_total")
        assert total.value >= 6
        health = {
            s.labels["state"]: s.value for s in _samples(families, "kong_upstream_target_health")
        }
        assert health == {"healthchecks_off": 1, "healthy": 0, "unhealthy": 0, "dns_error": 0}

        status_url = f"http://127.0.0.1:{status_port}"
        reply = await gw.request("GET", status_url + "/metrics")
        assert reply.status == 200 and "kong_http_requests" in _parse(reply.body)
        reply = await gw.request("GET", status_url + "/status")
        assert reply.status == 200 and reply.json["database"]["reachable"] is True
        assert (await gw.request("GET", status_url + "/status/ready")).status == 200
        assert (await gw.request("GET", status_url + "/services")).status == 404


@pytest_twisted.ensureDeferred
async def test_switches_off_and_dropped_log_entries(tmp_path):
    """With Kong's defaults (switches off) no request metrics are recorded; log entries dropped
    by log plugins show as kongtx_log_entries_dropped_total."""
    async with gateway_and_upstream(
        tmp_path, service="svc", routes={"r": "/r"}, plugins="prometheus"
    ) as (gw, _):
        reply = await gw.admin("POST", "/plugins", {"name": "prometheus"})
        assert reply.status == 201 and reply.json["config"]["status_code_metrics"] is False
        await gw.proxy("GET", "/r")
        SINK_STATS.dropped("test-sink", 2)
        families = _parse((await gw.request("GET", gw.admin_url + "/metrics")).body)
        assert "kong_http_requests" not in families and "kong_request_latency_ms" not in families
        drops = {
            s.labels["plugin"]: s.value for s in families["kongtx_log_entries_dropped"].samples
        }
        assert drops["test-sink"] >= 2


@pytest_twisted.ensureDeferred
async def test_worker_processes_add_up_in_one_scrape(tmp_path: Path, upstream: Any):
    """twistd with two worker processes: requests served by both show in one scrape of the
    parent's Admin API (workers sync every second, as Kong's counters)."""
    from twisted.internet import reactor

    from tests.integration.worker_nodes import (
        add_route,
        burst,
        fresh_request,
        pause,
        run_node,
        wait_started,
    )

    up = upstream  # answers "ok", telling which worker process sent each request
    gen = run_node(tmp_path, plugins="prometheus")
    node = next(gen)
    try:
        await wait_started(node)
        admin = f"http://127.0.0.1:{node.admin}"
        code, body = await fresh_request(
            "POST", f"{admin}/plugins", {"name": "prometheus", "config.status_code_metrics": "true"}
        )
        assert code == 201, body
        await add_route(node, up, "w", "/w")
        await pause(1.0)  # the route and plugin reach the child
        statuses = await burst(node, "/w", 100)
        assert statuses.count(200) >= 90, statuses
        served = statuses.count(200)
        deadline = reactor.seconds() + 5
        while True:
            await pause(0.5)
            code, body = await fresh_request("GET", f"{admin}/metrics")
            families = _parse(body)
            counted = sum(
                s.value
                for s in _samples(families, "kong_http_requests")
                if s.labels["code"] == "200"
            )
            if counted == served or reactor.seconds() > deadline:
                break
        assert counted == served
        total = _samples(families, "kong_nginx_requests_total")[0].value
        assert total >= len(statuses)
        files = list((tmp_path / "prefix" / "prometheus").glob("*.json"))
        assert len(files) == 1  # the child's share; the parent answers with its own live
        child = json.loads(files[0].read_text())
        child_served = sum(value for _, value in child["requests"]["requests"])
        assert 0 < child_served < served  # both processes served some of them
    finally:
        try:
            next(gen)
        except StopIteration:
            pass
