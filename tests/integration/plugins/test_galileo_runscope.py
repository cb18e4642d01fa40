"""galileo and runscope against a local collector: Kong 0.x's payloads, bodies, batching, retries."""

from __future__ import annotations

import base64
import json

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater

from tests.support.receivers import start_http_collector

PLUGINS = "galileo,runscope"


@pytest_twisted.ensureDeferred
async def test_galileo_alf_batches_with_bodies_and_retry(env):
    """queue_size entries make one ALF 1.1.0 POSTed to /1.1.0/single; a 500 is retried; with
    log_bodies the bodies travel base64-encoded."""
    gw, _ = env
    collector = await start_http_collector()
    collector.fail_first = 1
    try:
        config = {
            "service_token": "tok",
            "environment": "staging",
            "host": "127.0.0.1",
            "port": collector.port,
            "https": False,
            "queue_size": 2,
            "flush_timeout": 30,
            "log_bodies": True,
            "retry_count": 3,
        }
        await gw.route_with_plugin("ga", "galileo", config)
        await gw.proxy(
            "POST", "/ga/x?q=1&q=2", data=b"hello", headers={"Content-Type": "text/plain"}
        )
        await gw.proxy("GET", "/ga/y")
        (posted,) = await collector.wait_for(1, timeout=15)
        assert collector.attempts == 2  # the first ALF answered 500, sent again
        assert posted["path"] == "/1.1.0/single"
        assert posted["headers"]["content-type"] == "application/json"
        alf = json.loads(posted["body"])
        assert alf["version"] == "1.1.0" and alf["serviceToken"] == "tok"
        assert alf["environment"] == "staging"
        assert alf["har"]["log"]["creator"] == {"name": "galileo-agent-kong", "version": "2.0.0"}
        first, second = alf["har"]["log"]["entries"]
        request = first["request"]
        assert request["method"] == "POST" and request["httpVersion"] == "HTTP/1.1"
        assert request["url"] == "http://127.0.0.1/ga/x?q=1&q=2"
        assert {"name": "q", "value": "2"} in request["queryString"]
        assert {"name": "content-type", "value": "text/plain"} in request["headers"]
        assert request["bodyCaptured"] is True and request["bodySize"] == 5
        assert base64.b64decode(request["postData"]["text"]) == b"hello"
        assert request["postData"]["mimeType"] == "text/plain"
        response = first["response"]
        assert response["status"] == 200 and response["statusText"] == ""
        echoed = json.loads(base64.b64decode(response["content"]["text"]))
        assert echoed["body"] == "hello"
        assert response["bodySize"] == len(base64.b64decode(response["content"]["text"]))
        assert set(first["timings"]) == {"send", "wait", "receive"}
        assert first["time"] == first["timings"]["send"] + first["timings"]["wait"]
        assert first["clientIPAddress"] == "127.0.0.1"
        assert first["startedDateTime"].endswith("Z")
        assert second["request"]["method"] == "GET" and "postData" not in second["request"]
    finally:
        await collector.stop()


@pytest_twisted.ensureDeferred
async def test_galileo_drops_refused_alf(env):
    """A 4xx from the collector drops the ALF (no retry); flush_timeout sends a partial ALF."""
    gw, _ = env
    collector = await start_http_collector()
    collector.fail_first, collector.fail_status = 1, 400
    try:
        config = {
            "service_token": "t",
            "host": "127.0.0.1",
            "port": collector.port,
            "https": False,
            "flush_timeout": 0.2,
            "retry_count": 5,
        }
        await gw.route_with_plugin("gb", "galileo", config)
        await gw.proxy("GET", "/gb?first")
        for _ in range(250):  # the first ALF is refused before the second request
            if collector.attempts:
                break
            await deferLater(reactor, 0.02, lambda: None)
        await gw.proxy("GET", "/gb?second")
        (posted,) = await collector.wait_for(1)
        assert collector.attempts == 2
        alf = json.loads(posted["body"])
        entries = alf["har"]["log"]["entries"]
        assert [e["request"]["url"].rpartition("?")[2] for e in entries] == ["second"]
        assert "environment" not in alf
    finally:
        await collector.stop()


@pytest_twisted.ensureDeferred
async def test_runscope_message(env):
    """One message per request to /buckets/<key>/messages with the Bearer token; with log_body
    the bodies and the form arguments are sent."""
    gw, _ = env
    collector = await start_http_collector()
    try:
        config = {
            "api_endpoint": f"http://127.0.0.1:{collector.port}",
            "bucket_key": "bk1",
            "access_token": "secret",
            "log_body": True,
        }
        await gw.route_with_plugin("rs", "runscope", config)
        await gw.proxy(
            "POST",
            "/rs/p",
            data=b"a=1&b=2&a=3",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        (posted,) = await collector.wait_for(1)
        assert posted["path"] == "/buckets/bk1/messages"
        assert posted["headers"]["authorization"] == "Bearer secret"
        message = json.loads(posted["body"])
        request, response = message["request"], message["response"]
        port = gw.node.port_of("proxy")
        assert request["url"] == f"http://127.0.0.1:{port}/rs/p"
        assert request["method"] == "POST" and request["body"] == "a=1&b=2&a=3"
        assert request["form"] == {"a": ["1", "3"], "b": "2"}
        assert request["headers"]["content-type"] == "application/x-www-form-urlencoded"
        assert response["status"] == 200 and json.loads(response["body"])["body"] == "a=1&b=2&a=3"
        assert response["size_bytes"] == str(len(response["body"]))
        assert response["timestamp"] >= request["timestamp"]
        assert response["response_time"] >= 0
        await gw.route_with_plugin("rn", "runscope", {**config, "log_body": False})
        await gw.proxy("GET", "/rn")
        message = json.loads((await collector.wait_for(2))[1]["body"])
        assert message["request"]["body"] == "" and message["request"]["form"] == {}
        assert message["response"]["body"] == ""
    finally:
        await collector.stop()
