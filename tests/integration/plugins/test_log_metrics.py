"""statsd, datadog, syslog and loggly end to end against real UDP, TCP and Unix datagram receivers."""

from __future__ import annotations

import json
import os
import re
import socket

import pytest_twisted

from kongtx.logsinks.serializer import DEFAULT_WORKSPACE_ID
from tests.support.receivers import (
    start_tcp_receiver,
    start_udp_receiver,
    start_unix_datagram_receiver,
)

PLUGINS = "key-auth,statsd,datadog,syslog,loggly"


async def _keyed_route(gw, name, plugin, config):
    """Route /<name> with key-auth and ``plugin``; a consumer (custom_id cust-1) with key k1."""
    await gw.route_with_plugin(name, "key-auth", {})
    reply = await gw.admin("POST", f"/routes/{name}/plugins", {"name": plugin, "config": config})
    assert reply.status == 201, reply
    if (await gw.admin("GET", "/consumers/alice")).status == 404:
        await gw.admin("POST", "/consumers", {"username": "alice", "custom_id": "cust-1"})
        await gw.admin("POST", "/consumers/alice/key-auth", {"key": "k1"})


def _shape(line: bytes) -> str:
    """A metric line with its measured numbers replaced by N."""
    return re.sub(r":\d+\|(ms|c)", r":N|\1", line.decode())


@pytest_twisted.ensureDeferred
async def test_statsd_default_metrics_over_udp_then_packed(env):
    """Every default statsd metric for an authenticated request, one per datagram; with
    udp_packet_size the same lines arrive packed in one datagram."""
    gw, _ = env
    rx = await start_udp_receiver()
    try:
        await _keyed_route(gw, "sd", "statsd", {"host": "127.0.0.1", "port": rx.port})
        reply = await gw.proxy("GET", "/sd", headers={"apikey": "k1"})
        assert reply.status == 200
        lines = await rx.wait_for(12)
        route_id = (await gw.admin("GET", "/routes/sd")).json["id"]
        s = "kong.service.svc"
        assert sorted(_shape(x) for x in lines) == sorted(
            [
                f"{s}.request.count:N|c",
                f"{s}.latency:N|ms",
                f"{s}.request.size:N|c",
                f"{s}.status.200:N|c",
                f"{s}.response.size:N|c",
                f"{s}.user.uniques:cust-1|s",
                f"{s}.user.cust-1.request.count:N|c",
                f"{s}.upstream_latency:N|ms",
                f"{s}.kong_latency:N|ms",
                f"{s}.user.cust-1.status.200:N|c",
                f"{s}.workspace.{DEFAULT_WORKSPACE_ID}.status.200:N|c",
                f"kong.route.{route_id}.user.cust-1.status.200:N|c",
            ]
        )
        assert f"{s}.request.count:1|c".encode() in lines
        await _keyed_route(
            gw, "sp", "statsd", {"host": "127.0.0.1", "port": rx.port, "udp_packet_size": 2000}
        )
        await gw.proxy("GET", "/sp", headers={"apikey": "k1"})
        (*_, packet) = await rx.wait_for(13)
        assert len(packet.split(b"\n")) == 12 and len(packet) <= 2000
    finally:
        await rx.stop()


@pytest_twisted.ensureDeferred
async def test_statsd_tcp_tags_and_allowed_status(env):
    """use_tcp sends newline-terminated lines; tag_style influxdb puts the scope in tags;
    allow_status_codes skips other statuses."""
    gw, _ = env
    rx = await start_tcp_receiver()
    try:
        config = {
            "host": "127.0.0.1",
            "port": rx.port,
            "use_tcp": True,
            "tag_style": "influxdb",
            "allow_status_codes": ["200-299"],
            "metrics": [{"name": "request_count", "stat_type": "counter", "sample_rate": 1}],
        }
        await gw.route_with_plugin("st", "statsd", config)
        assert (await gw.proxy("GET", "/st/status/404")).status == 404
        assert (await gw.proxy("GET", "/st")).status == 200
        (line,) = await rx.wait_for(1)
        host = socket.gethostname().replace(".", "_")
        assert line.decode() == (
            f"kong.request.count,service=svc,route=st,workspace={DEFAULT_WORKSPACE_ID},"
            f"node={host},status=200:1|c"
        )
    finally:
        await rx.stop()


@pytest_twisted.ensureDeferred
async def test_datadog_lines_and_agent_from_environment(env, monkeypatch):
    """DogStatsD lines with name/status/consumer/app tags; a null host/port takes
    KONG_DATADOG_AGENT_HOST/PORT."""
    gw, _ = env
    rx = await start_udp_receiver()
    monkeypatch.setenv("KONG_DATADOG_AGENT_HOST", "127.0.0.1")
    monkeypatch.setenv("KONG_DATADOG_AGENT_PORT", str(rx.port))
    try:
        await _keyed_route(gw, "dd", "datadog", {"host": None, "port": None})
        assert (await gw.proxy("GET", "/dd", headers={"apikey": "k1"})).status == 200
        lines = await rx.wait_for(6)
        tags = "|#name:svc,status:200,consumer:cust-1,app:kong"
        assert sorted(_shape(x) for x in lines) == sorted(
            f"kong.{stat}:N|{kind}{tags}"
            for stat, kind in (
                ("request.count", "c"),
                ("latency", "ms"),
                ("request.size", "ms"),
                ("response.size", "ms"),
                ("upstream_latency", "ms"),
                ("kong_latency", "ms"),
            )
        )
    finally:
        await rx.stop()


@pytest_twisted.ensureDeferred
async def test_syslog_to_local_socket_with_severities(env, tmp_path):
    """syslog writes `<PRI>timestamp kong[pid]: <json>` to the local socket, the severity by
    status class; entries less important than log_level are not sent."""
    gw, _ = env
    path = str(tmp_path / "log.sock")
    rx = await start_unix_datagram_receiver(path)
    try:
        config = {
            "socket_path": path,
            "facility": "local3",
            "log_level": "warning",
            "successful_severity": "info",
            "client_errors_severity": "warning",
            "server_errors_severity": "crit",
        }
        await gw.route_with_plugin("sl", "syslog", config)
        for path_ in ("/sl", "/sl/status/404", "/sl/status/503"):
            await gw.proxy("GET", path_)
        first, second = await rx.wait_for(2)
        pattern = rf"<(\d+)>\w{{3}} [ \d]\d \d\d:\d\d:\d\d kong\[{os.getpid()}\]: (.*)"
        pri1, body1 = re.fullmatch(pattern, first.decode()).groups()
        pri2, body2 = re.fullmatch(pattern, second.decode()).groups()
        assert (int(pri1), json.loads(body1)["response"]["status"]) == (19 * 8 + 4, 404)
        assert (int(pri2), json.loads(body2)["response"]["status"]) == (19 * 8 + 2, 503)
        assert len(rx.items) == 2
    finally:
        await rx.stop()


@pytest_twisted.ensureDeferred
async def test_syslog_over_udp_and_loggly(env):
    """syslog with host/port sends RFC 3164 with the hostname over UDP; loggly sends its
    RFC 5424-style line with key and tags, PRI 8 + severity."""
    gw, _ = env
    rx = await start_udp_receiver()
    try:
        await gw.route_with_plugin("su", "syslog", {"host": "127.0.0.1", "port": rx.port})
        await gw.proxy("GET", "/su")
        (line,) = await rx.wait_for(1)
        hostname = socket.gethostname()
        assert re.fullmatch(
            rf"<14>\w{{3}} [ \d]\d \d\d:\d\d:\d\d {re.escape(hostname)} kong\[\d+\]: \{{.*\}}",
            line.decode(),
        )
        config = {
            "host": "127.0.0.1",
            "port": rx.port,
            "key": "TOKEN",
            "tags": ["kong", "staging"],
            "server_errors_severity": "err",
        }
        await gw.route_with_plugin("lg", "loggly", config)
        await gw.proxy("GET", "/lg/status/500")
        line = (await rx.wait_for(2))[1].decode()
        match = re.fullmatch(
            r"<11>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (\S+) kong - - "
            r'\[TOKEN@41058 tag="kong" tag="staging" \] (\{.*\})',
            line,
        )
        assert match and match.group(1) == hostname
        assert json.loads(match.group(2))["response"]["status"] == 500
    finally:
        await rx.stop()
