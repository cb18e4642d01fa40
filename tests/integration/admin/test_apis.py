"""Legacy 0.x /apis over real HTTP, and the service + route they become."""

from __future__ import annotations

import pytest_twisted

from tests.integration.admin.conftest import unique


@pytest_twisted.ensureDeferred
async def test_mockbin_09_flow_and_routing(admin) -> None:
    """The 0.9 curl example returns 201 in the 0.x shape and routes Host: mockbin.com."""
    from kongtx.router import Router

    name = unique("mockbin")
    host = name + ".com"
    before_ms = int(admin.api.clock.seconds() * 1000)
    r = await admin.post(
        "/apis/", form={"name": name, "upstream_url": "http://mockbin.com/", "request_host": host}
    )
    assert r.status == 201, r.raw
    api = r.json
    assert set(api) == {
        "id",
        "name",
        "created_at",
        "upstream_url",
        "preserve_host",
        "request_host",
        "strip_request_path",
    }
    assert (api["name"], api["upstream_url"], api["request_host"]) == (
        name,
        "http://mockbin.com/",
        host,
    )
    assert api["preserve_host"] is False and api["strip_request_path"] is False
    assert before_ms <= api["created_at"] <= before_ms + 60_000
    assert (await admin.get(f"/apis/{name}")).json == api
    assert (await admin.get(f"/apis/{api['id']}")).json == api

    rows = await admin.dao.load_all()
    services = {s["id"]: s for s in rows["services"]}
    router = Router(rows["routes"], services, cache_size=0)
    match = router.match("GET", host, "/anything", None, "http")
    assert match is not None and match.service["id"] == api["id"]
    assert (match.service["host"], match.service["port"]) == ("mockbin.com", 80)


@pytest_twisted.ensureDeferred
async def test_010_fields_regex_uri_and_patch(admin) -> None:
    """0.10+ fields round-trip; regex uris become ~ paths; PATCH merges."""
    name = unique("v10")
    r = await admin.post(
        "/apis",
        json_body={
            "name": name,
            "upstream_url": "https://up.example:8443/base",
            "uris": ["/users/\\d+"],
            "methods": ["get"],
            "https_only": True,
            "retries": 3,
        },
    )
    assert r.status == 201, r.raw
    api = r.json
    assert api["uris"] == ["/users/\\d+"] and api["methods"] == ["GET"] and api["strip_uri"] is True
    assert api["https_only"] is True and api["http_if_terminated"] is False and api["retries"] == 3
    route = (await admin.get(f"/routes/{name}")).json
    assert route["paths"] == ["~/users/\\d+"] and route["protocols"] == ["https"]
    r = await admin.patch(
        f"/apis/{name}", form={"strip_uri": "false", "hosts": "a.example,b.example"}
    )
    assert r.status == 200, r.raw
    assert r.json["strip_uri"] is False and r.json["hosts"] == ["a.example", "b.example"]
    assert r.json["created_at"] == api["created_at"] and r.json["retries"] == 3
    r = await admin.patch(f"/apis/{name}", json_body={})
    assert r.status == 400 and r.json == {"message": "empty body"}


@pytest_twisted.ensureDeferred
async def test_legacy_errors_are_flat(admin) -> None:
    """Missing fields, unknown fields and duplicates answer 0.x flat objects; nothing written."""
    r = await admin.post("/apis", form={"hosts": "x.example"})
    assert r.status == 400
    assert r.json == {"name": "name is required", "upstream_url": "upstream_url is required"}
    name = unique("e")
    r = await admin.post(
        "/apis", json_body={"name": name, "upstream_url": "http://x", "hosts": ["h"], "foo": 1}
    )
    assert r.status == 400 and r.json == {"foo": "foo is an unknown field"}
    assert (await admin.get(f"/apis/{name}")).status == 404
    assert (await admin.get(f"/services/{name}")).status == 404
    await admin.post(
        "/apis", json_body={"name": name, "upstream_url": "http://x", "hosts": ["h.example"]}
    )
    r = await admin.post(
        "/apis", json_body={"name": name, "upstream_url": "http://y", "hosts": ["i.example"]}
    )
    assert r.status == 409 and r.json == {"name": f"already exists with value '{name}'"}
    r = await admin.post("/apis", body=b"{oops", headers={"Content-Type": "application/json"})
    assert r.status == 400 and r.json == {"message": "Cannot parse JSON body"}


@pytest_twisted.ensureDeferred
async def test_list_put_delete(admin) -> None:
    """Lists carry total; PUT upserts by body id; DELETE of a missing API is 404."""
    name = unique("lst")
    created = await admin.put(
        "/apis",
        json_body={"name": name, "upstream_url": "http://l.example", "hosts": ["l.example"]},
    )
    assert created.status == 201
    api_id = created.json["id"]
    updated = await admin.put(
        "/apis",
        json_body={
            "id": api_id,
            "name": name,
            "upstream_url": "http://l2.example",
            "hosts": ["l.example"],
        },
    )
    assert updated.status == 200 and updated.json["upstream_url"] == "http://l2.example"
    body = (await admin.get(f"/apis?name={name}")).json
    assert body["total"] == 1 and [a["id"] for a in body["data"]] == [api_id]
    assert (await admin.get("/apis")).json["total"] >= 1
    assert (await admin.delete(f"/apis/{name}")).status == 204
    r = await admin.delete(f"/apis/{name}")
    assert r.status == 404 and r.json == {"message": "Not found"}
    assert (await admin.get(f"/services/{api_id}")).status == 404
