"""Plugin rows through the generic endpoints and the legacy /apis/{api}/plugins."""

from __future__ import annotations

import pytest
import pytest_twisted

from tests.integration.admin.conftest import unique

PLUGIN = "kongtx-admin-test"


@pytest.fixture(scope="module")
def plugin_schema():
    """Register a small plugin schema (config.minute integer > 0, config.names array)."""
    from kongtx.schema import registry
    from kongtx.schema.fields import Array, Integer, Record, String

    registry.register_plugin_schema(
        PLUGIN,
        Record(
            {
                "minute": Integer(gt=0),
                "names": Array(String(), default=["a"]),
            }
        ),
    )


@pytest.fixture(autouse=True)
def every_plugin_enabled(plugin_schema):
    """Each test runs with every registered plugin enabled, whatever a node started before
    it (in any module, in any order) narrowed the global set to; the set is restored after."""
    from kongtx.schema import registry

    before = registry.enabled_set()
    registry.set_enabled_plugins(None)
    yield
    registry.set_enabled_plugins(before)


@pytest_twisted.ensureDeferred
async def test_plugin_crud_nested_and_duplicates(admin) -> None:
    """Nested plugin creation with form config; PATCH merges config; duplicates 409."""
    svc = (
        await admin.post("/services", json_body={"name": unique("ps"), "host": "p.example"})
    ).json
    r = await admin.post(
        f"/services/{svc['name']}/plugins",
        form=[
            ("name", PLUGIN),
            ("config.minute", "5"),
            ("config.names[]", "x"),
            ("config.names[]", "y"),
        ],
    )
    assert r.status == 201, r.raw
    plugin = r.json
    assert plugin["config"] == {"minute": 5, "names": ["x", "y"]} and plugin["service"] == {
        "id": svc["id"]
    }
    r = await admin.patch(f"/plugins/{plugin['id']}", form={"config.minute": "9"})
    assert r.status == 200 and r.json["config"] == {"minute": 9, "names": ["x", "y"]}
    dup = await admin.post("/plugins", json_body={"name": PLUGIN, "service": {"id": svc["id"]}})
    assert dup.status == 409 and dup.json["code"] == 5
    bad = await admin.post("/plugins", json_body={"name": PLUGIN, "config": {"minute": 0}})
    assert bad.status == 400 and bad.json["fields"] == {
        "config": {"minute": "value must be greater than 0"}
    }
    missing = await admin.post("/plugins", json_body={"name": "no-such-plugin"})
    assert missing.status == 400
    assert (
        missing.json["fields"]["name"]
        == "plugin 'no-such-plugin' not enabled; add it to the 'plugins' configuration property"
    )
    listing = (await admin.get(f"/services/{svc['id']}/plugins")).json["data"]
    assert [p["id"] for p in listing] == [plugin["id"]]
    assert (await admin.get("/schemas/plugins/" + PLUGIN)).status == 200
    assert PLUGIN in (await admin.get("/")).json["plugins"]["enabled_in_cluster"]


@pytest_twisted.ensureDeferred
async def test_legacy_api_plugins(admin) -> None:
    """/apis/{api}/plugins creates a route-scoped plugin shown in the 0.x shape."""
    name = unique("ap")
    api = (
        await admin.post(
            "/apis",
            json_body={"name": name, "upstream_url": "http://x.example", "hosts": ["ap.example"]},
        )
    ).json
    r = await admin.post(f"/apis/{name}/plugins/", form={"name": PLUGIN, "config.minute": "3"})
    assert r.status == 201, r.raw
    view = r.json
    assert view["api_id"] == api["id"] and view["config"]["minute"] == 3 and view["enabled"] is True
    assert view["created_at"] % 1000 == 0
    assert (await admin.get(f"/apis/{name}/plugins")).json == {"data": [view], "total": 1}
    assert (await admin.get(f"/apis/{name}/plugins/{view['id']}")).json == view
    r = await admin.patch(f"/apis/{name}/plugins/{view['id']}", json_body={"config": {"minute": 4}})
    assert r.status == 200 and r.json["config"]["minute"] == 4
    assert (await admin.delete(f"/apis/{name}/plugins/{view['id']}")).status == 204
    assert (await admin.get(f"/plugins/{view['id']}")).status == 404
