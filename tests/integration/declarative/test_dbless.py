"""DB-less mode through a real node: start from a file, read-only Admin API, POST /config."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import DeferredList

from tests.integration.declarative.conftest import sample_path
from tests.integration.harness import RunningGateway, start_gateway
from tests.support.upstream import start_upstream


def _config(upstream_port: int, routes: list[str], consumers: int = 0) -> dict[str, Any]:
    return {
        "_format_version": "3.0",
        "services": [
            {
                "name": "echo",
                "url": f"http://127.0.0.1:{upstream_port}",
                "routes": [{"name": r.strip("/"), "paths": [r]} for r in routes],
            }
        ],
        "consumers": [{"username": f"c{i}"} for i in range(consumers)],
    }


async def _dbless(tmp_path: Any, **settings: str) -> RunningGateway:
    return await start_gateway(tmp_path, database="off", **settings)


@pytest_twisted.ensureDeferred
async def test_starts_from_the_declarative_file(tmp_path: Any) -> None:
    gw = await _dbless(tmp_path, declarative_config=sample_path("kong-2.1.yml"))
    try:
        reply = await gw.request("GET", gw.admin_url + "/routes/echo-regex")
        assert reply.status == 200 and reply.json["paths"] == ["~/items/\\d+$"]
        reply = await gw.request("GET", gw.admin_url + "/consumers/alice/key-auth")
        assert [c["key"] for c in reply.json["data"]] == ["alice-key"]
        config = await gw.request("GET", gw.admin_url + "/config")
        assert config.status == 200 and "_format_version: '3.0'" in config.json["config"]
    finally:
        await gw.stop()


@pytest_twisted.ensureDeferred
async def test_admin_api_is_read_only(tmp_path: Any) -> None:
    gw = await _dbless(tmp_path, declarative_config_string=json.dumps(_config(9, ["/a"])))
    try:
        url = gw.admin_url
        cases = [
            (
                "POST",
                "/routes",
                {"paths": ["/x"]},
                "cannot create 'routes' entities when not using a database",
            ),
            (
                "POST",
                "/services/echo/routes",
                {"paths": ["/x"]},
                "cannot create 'routes' entities when not using a database",
            ),
            (
                "PATCH",
                "/routes/a",
                {"paths": ["/x"]},
                "cannot update 'routes' entities when not using a database",
            ),
            (
                "PUT",
                "/routes/a",
                {"paths": ["/x"]},
                "cannot create or update 'routes' entities when not using a database",
            ),
            (
                "DELETE",
                "/services/echo",
                None,
                "cannot remove 'services' entities when not using a database",
            ),
            (
                "POST",
                "/consumers",
                {"username": "x"},
                "cannot create 'consumers' entities when not using a database",
            ),
        ]
        for method, path, body, message in cases:
            reply = await gw.request(method, url + path, json_body=body)
            assert reply.status == 405, (method, path, reply)
            assert reply.json == {"code": 12, "name": "operation unsupported", "message": message}
        reply = await gw.request("PATCH", url + "/routes", json_body={})
        assert (reply.status, reply.json) == (405, {"message": "Method not allowed"})
        assert (await gw.request("GET", url + "/routes/a")).status == 200
    finally:
        await gw.stop()


@pytest_twisted.ensureDeferred
async def test_post_config_forms_and_answers(tmp_path: Any) -> None:
    gw = await _dbless(tmp_path)
    try:
        url = gw.admin_url + "/config"
        reply = await gw.request(
            "POST", url, json_body={"_format_version": "1.1", "consumers": [{"username": "bobby"}]}
        )
        assert reply.status == 201
        assert [c["username"] for c in reply.json["consumers"].values()] == ["bobby"]
        yaml_text = '_format_version: "1.1"\nconsumers:\n- username: tables\n'
        reply = await gw.request("POST", url, json_body={"config": yaml_text})
        assert reply.status == 201
        reply = await gw.request(
            "POST",
            url,
            data={"config": '{"_format_version": "3.0", "consumers": [{"username": "form"}]}'},
        )
        assert reply.status == 201, reply
        names = [
            c["username"]
            for c in (await gw.request("GET", gw.admin_url + "/consumers")).json["data"]
        ]
        assert names == ["form"]  # the whole configuration was replaced
        assert (
            await gw.request("POST", url + "?check_hash=1", data={"config": yaml_text})
        ).status == 201
        again = await gw.request("POST", url + "?check_hash=1", data={"config": yaml_text})
        assert (again.status, again.body) == (304, b"")
        empty = await gw.request("POST", url)
        assert (empty.status, empty.json) == (
            400,
            {"message": "expected a declarative configuration"},
        )
        bad = await gw.request("POST", url, json_body={"config": "bobby tables"})
        assert bad.status == 400 and bad.json["fields"] == {
            "error": "failed parsing declarative configuration: expected an object"
        }
        invalid = '_format_version: "1.1"\nservices:\n- name: s\n  port: -12\n'
        flat = await gw.request("POST", url + "?flatten_errors=1", json_body={"config": invalid})
        assert flat.status == 400
        assert flat.json["flattened_errors"] == [
            {
                "entity_name": "s",
                "entity_type": "service",
                "entity": {"name": "s", "port": -12},
                "errors": [
                    {"type": "field", "field": "host", "message": "required field missing"},
                    {
                        "type": "field",
                        "field": "port",
                        "message": "value should be between 0 and 65535",
                    },
                ],
            }
        ]
        names = [
            c["username"]
            for c in (await gw.request("GET", gw.admin_url + "/consumers")).json["data"]
        ]
        assert names == ["tables"]  # failed posts changed nothing
    finally:
        await gw.stop()


@pytest_twisted.ensureDeferred
async def test_config_endpoint_needs_db_less_mode(tmp_path: Any) -> None:
    gw = await start_gateway(tmp_path)
    try:
        for method in ("GET", "POST"):
            reply = await gw.request(method, gw.admin_url + "/config", json_body={"config": "x"})
            assert reply.status == 400
            assert reply.json == {
                "message": "this endpoint is only available when Kong is configured to not use a database"
            }
    finally:
        await gw.stop()


@pytest_twisted.ensureDeferred
async def test_post_config_under_traffic(tmp_path: Any) -> None:
    """Replace the configuration again and again while requests flow: none fails, and a
    route present before and after never answers 404."""
    upstream = await start_upstream(reactor)
    gw = await _dbless(
        tmp_path, declarative_config_string=json.dumps(_config(upstream.port, ["/stay", "/old"]))
    )
    try:
        statuses: list[int] = []
        stop = {"now": False}

        async def client() -> None:
            while not stop["now"]:
                reply = await gw.proxy("GET", "/stay")
                statuses.append(reply.status)

        clients = [_start(client) for _ in range(4)]
        for i in range(6):
            routes = ["/stay", f"/new{i}"]
            body = _config(upstream.port, routes, consumers=500)
            reply = await gw.request("POST", gw.admin_url + "/config", json_body=body)
            assert reply.status == 201
            assert (await gw.proxy("GET", f"/new{i}")).status == 200  # served once 201 is sent
            assert (await gw.proxy("GET", "/old")).status == 404
        stop["now"] = True
        await DeferredList(clients)
        assert len(statuses) > 20
        assert set(statuses) == {200}, sorted(set(statuses))
    finally:
        await gw.stop()
        await upstream.stop()


def _start(fn: Any) -> Any:
    from twisted.internet.defer import Deferred

    return Deferred.fromCoroutine(fn())


@pytest_twisted.ensureDeferred
async def test_a_large_build_keeps_the_proxy_serving(tmp_path: Any) -> None:
    """While POST /config's full snapshot build runs (in slices on the reactor), proxied
    requests keep being answered, by the previous configuration until the swap; invalid
    input afterwards is refused with 400 and changes no route."""
    upstream = await start_upstream(reactor)
    filler = 1500
    old = _config(upstream.port, ["/stay", "/old", *(f"/a{i}" for i in range(filler))])
    gw = await _dbless(tmp_path, declarative_config_string=json.dumps(old))
    try:
        node = gw.node
        assert node.snapshots is not None
        node.slices.budget = 0  # one step (about one route) per slice
        seen: list[tuple[str, int, bool, bool]] = []  # path, status, busy at start / at end
        stop = {"now": False}

        async def client(path: str) -> None:
            while not stop["now"]:
                busy = node.snapshots.busy  # type: ignore[union-attr]
                reply = await gw.proxy("GET", path)
                seen.append((path, reply.status, busy, node.snapshots.busy))  # type: ignore[union-attr]

        clients = [_start(partial(client, p)) for p in ("/stay", "/old", "/stay", "/old")]
        slices = node.slices.slices
        new = _config(upstream.port, ["/stay", "/new", *(f"/b{i}" for i in range(filler))])
        reply = await gw.request("POST", gw.admin_url + "/config", json_body=new)
        assert reply.status == 201
        stop["now"] = True
        await DeferredList(clients)
        assert node.slices.slices - slices > filler  # the build gave the reactor back, often
        during = [(path, status) for path, status, start, end in seen if start and end]
        assert ("/stay", 200) in during and ("/old", 200) in during  # served mid-build
        # answered before the swap: routed by the old configuration
        assert {s for p, s, _, end in seen if p == "/old" and end} == {200}
        assert {s for p, s, _, _ in seen if p == "/stay"} == {200}
        assert (await gw.proxy("GET", "/new")).status == 200
        assert (await gw.proxy("GET", "/old")).status == 404

        bad = _config(upstream.port, ["/other"])
        bad["services"][0]["retries"] = -1
        reply = await gw.request("POST", gw.admin_url + "/config", json_body=bad)
        assert reply.status == 400
        assert not node.snapshots.busy
        assert (await gw.proxy("GET", "/new")).status == 200
        assert (await gw.proxy("GET", "/other")).status == 404
    finally:
        await gw.stop()
        await upstream.stop()
