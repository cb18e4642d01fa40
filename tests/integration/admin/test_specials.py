"""Custom endpoints: /, /status, /endpoints, /schemas, certificates, upstreams."""

from __future__ import annotations

from typing import Any

import pytest_twisted

import kongtx
from kongtx.tls import make_certificate
from tests.integration.admin.conftest import unique


def _self_signed(common_name: str) -> tuple[str, str]:
    cert, key = make_certificate(common_name)
    return cert.decode(), key.decode()


@pytest_twisted.ensureDeferred
async def test_root(admin) -> None:
    """GET / reports versions, node id, plugins and the redacted configuration."""
    body = (await admin.get("/")).json
    assert body["tagline"] == "Welcome to kongtx"
    assert (
        body["version"] == kongtx.KONG_COMPAT_VERSION
        and body["kongtx_version"] == kongtx.__version__
    )
    assert body["node_id"] == admin.api.node_id and body["hostname"]
    assert body["plugins"]["available_on_server"] == {
        "key-auth": {"version": "3.9.1", "priority": 1250}
    }
    assert isinstance(body["plugins"]["enabled_in_cluster"], list)
    assert body["configuration"]["database"] == admin.backend
    assert (
        "pg_password" not in body["configuration"]
        or body["configuration"]["pg_password"] != "secret"
    )


@pytest_twisted.ensureDeferred
async def test_status_endpoints_and_enabled_plugins(admin) -> None:
    """/status pings the database; /endpoints lists generated routes; /plugins/enabled."""
    status = (await admin.get("/status")).json
    assert status["database"] == {"reachable": True} and status["server"] == {"total_requests": 7}
    endpoints = (await admin.get("/endpoints")).json["data"]
    for expected in (
        "/",
        "/services",
        "/services/{services}",
        "/services/{services}/routes",
        "/routes/{routes}/service",
        "/consumers/{consumers}/plugins",
        "/apis",
    ):
        assert expected in endpoints
    assert (await admin.get("/plugins/enabled")).json == {"enabled_plugins": ["key-auth"]}


@pytest_twisted.ensureDeferred
async def test_schemas(admin) -> None:
    """/schemas/{entity} serves the schema; unknown names 404; validate dry-runs."""
    schema = (await admin.get("/schemas/services")).json
    assert any("host" in f for f in schema["fields"])
    r = await admin.get("/schemas/nope")
    assert r.status == 404 and r.json == {"message": "No entity named 'nope'"}
    r = await admin.get("/schemas/plugins/nope")
    assert r.status == 404 and r.json == {"message": "No plugin named 'nope'"}
    name = unique("val")
    r = await admin.post(
        "/schemas/services/validate", json_body={"name": name, "host": "v.example"}
    )
    assert r.status == 200 and r.json == {"message": "schema validation successful"}
    assert (await admin.get(f"/services/{name}")).status == 404
    r = await admin.post(
        "/schemas/services/validate", json_body={"host": "v.example", "port": 99999}
    )
    assert r.status == 400 and r.json["fields"] == {"port": "value should be between 0 and 65535"}


@pytest_twisted.ensureDeferred
async def test_certificates_by_sni(admin) -> None:
    """Certificates are addressable by SNI name; unknown SNIs 404; /snis/{s}/certificate is off."""
    sni = unique("h") + ".example.com"
    cert, key = _self_signed(sni)
    r = await admin.post("/certificates", json_body={"cert": cert, "key": key, "snis": [sni]})
    assert r.status == 201, r.raw
    created = r.json
    assert created["snis"] == [sni]
    assert (await admin.get(f"/certificates/{sni}")).json["id"] == created["id"]
    r = await admin.get("/certificates/unknown.example.org")
    assert r.status == 404 and r.json == {"message": "SNI not found"}
    snis = (await admin.get(f"/certificates/{created['id']}/snis")).json["data"]
    assert [s["name"] for s in snis] == [sni]
    assert (await admin.get(f"/snis/{sni}/certificate")).status == 404
    assert (await admin.get(f"/snis/{sni}")).json["certificate"] == {"id": created["id"]}


@pytest_twisted.ensureDeferred
async def test_upstream_targets_and_health(admin) -> None:
    """Targets are found by target string; /targets/all lists; health delegates."""
    up = (await admin.post("/upstreams", json_body={"name": unique("up") + ".svc"})).json
    r = await admin.post(f"/upstreams/{up['name']}/targets", json_body={"target": "10.0.0.1"})
    assert r.status == 201, r.raw
    target = r.json
    assert target["target"] == "10.0.0.1:8000" and target["upstream"] == {"id": up["id"]}
    got = await admin.get(f"/upstreams/{up['name']}/targets/10.0.0.1:8000")
    assert got.status == 200 and got.json["id"] == target["id"]
    all_body = (await admin.get(f"/upstreams/{up['id']}/targets/all")).json
    assert [t["id"] for t in all_body["data"]] == [target["id"]]
    dup = await admin.post(
        f"/upstreams/{up['name']}/targets", json_body={"target": "10.0.0.1:8000"}
    )
    assert dup.status == 409
    assert (await admin.get("/targets")).status == 404
    assert (await admin.get(f"/targets/{target['id']}")).status == 404
    health = await admin.get(f"/upstreams/{up['name']}/health")
    assert health.status == 200
    assert health.json["node_id"] == admin.api.node_id and health.json["next"] is None
    assert health.json["data"][0]["target"] == "10.0.0.1:8000"
    r = await admin.put(f"/upstreams/{up['name']}/targets/10.0.0.1:8000/unhealthy")
    assert r.status == 204
    r = await admin.put(f"/upstreams/{up['name']}/targets/{target['id']}/10.0.0.1:8000/healthy")
    assert r.status == 204
    assert admin.health.calls[-2:] == [
        ("set", up["id"], target["id"], None, False),
        ("set", up["id"], target["id"], "10.0.0.1:8000", True),
    ]
    assert (await admin.delete(f"/upstreams/{up['name']}/targets/10.0.0.1:8000")).status == 204
    assert (await admin.get(f"/upstreams/{up['name']}/targets/10.0.0.1:8000")).status == 404


def _undescribed(fields: list[dict[str, Any]], path: str) -> list[str]:
    """The config fields (nested records included) of a schema JSON without a description."""
    missing = []
    for entry in fields:
        ((name, field),) = entry.items()
        if not field.get("description"):
            missing.append(f"{path}.{name}")
        for nested in (field, field.get("elements") or {}, field.get("values") or {}):
            if nested.get("type") == "record" and nested.get("fields"):
                missing += _undescribed(nested["fields"], f"{path}.{name}")
    return missing


@pytest_twisted.ensureDeferred
async def test_bundled_plugin_schemas_describe_every_config_field(admin) -> None:
    """/schemas/plugins/{name} shows a description for each config field of every bundled
    plugin (Kong's schemas carry one per field)."""
    from kongtx.plugins.base import bundled_plugins, load_plugins
    from kongtx.schema import registry

    enabled = registry.enabled_set()
    load_plugins(["bundled"])  # registers every bundled schema
    registry.set_enabled_plugins(enabled)
    missing = []
    for name in bundled_plugins():
        r = await admin.get(f"/schemas/plugins/{name}")
        assert r.status == 200, name
        (config,) = [f["config"] for f in r.json["fields"] if "config" in f]
        missing += _undescribed(config["fields"], name)
    assert missing == []
