"""Generic CRUD endpoints over real HTTP, on sqlite and postgres."""

from __future__ import annotations

import uuid

import pytest_twisted

from tests.integration.admin.conftest import unique

JSON_CT = "application/json; charset=utf-8"


@pytest_twisted.ensureDeferred
async def test_service_lifecycle(admin) -> None:
    """POST 201, GET by id and name, PATCH, DELETE 204 (twice), then 404."""
    name = unique("svc")
    r = await admin.post("/services", json_body={"name": name, "url": "https://example.com:8443/p"})
    assert r.status == 201, r.raw
    assert r.header("content-type") == JSON_CT
    svc = r.json
    assert (svc["protocol"], svc["host"], svc["port"], svc["path"]) == (
        "https",
        "example.com",
        8443,
        "/p",
    )
    assert svc["client_certificate"] is None and svc["tags"] is None
    assert isinstance(svc["created_at"], int)
    assert (await admin.get(f"/services/{svc['id']}")).json == svc
    assert (await admin.get(f"/services/{name}")).json["id"] == svc["id"]
    r = await admin.patch(f"/services/{name}", json_body={"retries": 2})
    assert r.status == 200 and r.json["retries"] == 2 and r.json["host"] == "example.com"
    assert (await admin.delete(f"/services/{name}")).status == 204
    r = await admin.delete(f"/services/{name}")
    assert r.status == 204 and r.raw == b""
    r = await admin.get(f"/services/{svc['id']}")
    assert r.status == 404 and r.json == {"message": "Not found"}


@pytest_twisted.ensureDeferred
async def test_patch_missing_is_404(admin) -> None:
    """PATCH of an absent entity is 404 and creates nothing."""
    name = unique("ghost")
    r = await admin.patch(f"/services/{name}", json_body={"retries": 1})
    assert r.status == 404 and r.json == {"message": "Not found"}
    assert (await admin.get(f"/services/{name}")).status == 404


@pytest_twisted.ensureDeferred
async def test_put_by_key_creates_then_replaces(admin) -> None:
    """PUT by name creates (200, key injected) and then replaces with defaults reset."""
    name = unique("put")
    r = await admin.put(f"/consumers/{name}", json_body={"custom_id": "c1-" + name, "tags": ["a"]})
    assert r.status == 200 and r.json["username"] == name
    first = r.json
    r = await admin.put(f"/consumers/{name}", json_body={})
    assert r.status == 200
    assert r.json["id"] == first["id"] and r.json["custom_id"] is None and r.json["tags"] is None


@pytest_twisted.ensureDeferred
async def test_put_by_uuid_creates_with_that_id(admin) -> None:
    """PUT to an unknown UUID creates the entity with that id."""
    new_id = str(uuid.uuid4())
    r = await admin.put(f"/services/{new_id}", json_body={"host": "up.example.com"})
    assert r.status == 200 and r.json["id"] == new_id
    assert (await admin.get(f"/services/{new_id}")).status == 200


@pytest_twisted.ensureDeferred
async def test_nested_routes_and_parent_endpoint(admin) -> None:
    """/services/{s}/routes creates and lists children; /routes/{r}/service returns the parent."""
    s1 = (await admin.post("/services", json_body={"name": unique("p"), "host": "a.example"})).json
    s2 = (await admin.post("/services", json_body={"name": unique("p"), "host": "b.example"})).json
    r = await admin.post(f"/services/{s1['name']}/routes", json_body={"paths": ["/n"]})
    assert r.status == 201 and r.json["service"] == {"id": s1["id"]}
    route = r.json
    listing = (await admin.get(f"/services/{s1['id']}/routes")).json
    assert [x["id"] for x in listing["data"]] == [route["id"]] and listing["next"] is None
    assert (await admin.get(f"/services/{s2['id']}/routes")).json == {"data": [], "next": None}
    assert (await admin.get(f"/services/{s1['id']}/routes/{route['id']}")).json["id"] == route["id"]
    r = await admin.get(f"/services/{s2['id']}/routes/{route['id']}")
    assert r.status == 404
    assert (await admin.get(f"/routes/{route['id']}/service")).json["id"] == s1["id"]
    r = await admin.patch(f"/routes/{route['id']}/service", json_body={"retries": 9})
    assert r.status == 200 and r.json["retries"] == 9
    r = await admin.delete(f"/routes/{route['id']}/service")
    assert r.status == 405 and r.json == {"message": "Method not allowed"}
    assert (await admin.get(f"/services/{unique('none')}/routes")).status == 404


@pytest_twisted.ensureDeferred
async def test_delete_referenced_parent_is_refused(admin) -> None:
    """Deleting a service with routes answers Kong's foreign key violation."""
    svc = (
        await admin.post("/services", json_body={"name": unique("ref"), "host": "r.example"})
    ).json
    await admin.post(f"/services/{svc['id']}/routes", json_body={"hosts": ["ref.example"]})
    r = await admin.delete(f"/services/{svc['id']}")
    assert r.status == 400
    assert r.json == {
        "code": 4,
        "name": "foreign key violation",
        "message": "an existing 'routes' entity references this 'services' entity",
        "fields": {"@referenced_by": "routes"},
    }
    assert (await admin.get(f"/services/{svc['id']}")).status == 200


@pytest_twisted.ensureDeferred
async def test_foreign_reference_by_name(admin) -> None:
    """{"service": {"name": ..}} resolves; an unknown name is code 13 and writes nothing."""
    svc = (
        await admin.post("/services", json_body={"name": unique("byname"), "host": "n.example"})
    ).json
    rname = unique("r")
    r = await admin.post(
        "/routes", json_body={"name": rname, "paths": ["/x"], "service": {"name": svc["name"]}}
    )
    assert r.status == 201 and r.json["service"] == {"id": svc["id"]}
    rname2 = unique("r")
    r = await admin.post(
        "/routes", json_body={"name": rname2, "paths": ["/x"], "service": {"name": "no-such-svc"}}
    )
    msg = (
        "the foreign key cannot be resolved with '{name=\"no-such-svc\"}' "
        "for an existing 'services' entity"
    )
    assert r.status == 400
    assert r.json == {
        "code": 13,
        "name": "foreign keys unresolved",
        "message": f"foreign key unresolved (service.name: {msg})",
        "fields": {"service": {"name": msg}},
    }
    assert (await admin.get(f"/routes/{rname2}")).status == 404


@pytest_twisted.ensureDeferred
async def test_trailing_slash_unknown_path_and_verbs(admin) -> None:
    """Trailing slashes are tolerated; unknown paths 404; wrong verbs 405."""
    assert (await admin.get("/services/")).status == 200
    r = await admin.get("/nothing-here")
    assert r.status == 404 and r.json == {"message": "Not found"}
    r = await admin.request("DELETE", "/services")
    assert r.status == 405 and r.json == {"message": "Method not allowed"}


@pytest_twisted.ensureDeferred
async def test_head_options_and_cors(admin) -> None:
    """HEAD mirrors GET without a body; OPTIONS lists verbs; CORS headers echo the Admin
    API's own Origin (a foreign one is refused: see test_hardening)."""
    r = await admin.request("HEAD", "/services")
    assert r.status == 200 and r.raw == b""
    r = await admin.request("OPTIONS", "/services", headers={"Origin": admin.base})
    assert r.status == 204
    assert r.header("allow") == "GET, HEAD, OPTIONS, POST"
    assert r.header("access-control-allow-methods") == "GET, HEAD, OPTIONS, POST"
    assert r.header("access-control-allow-headers") == "Content-Type"
    assert r.header("access-control-allow-origin") == admin.base
    r = await admin.get("/services")
    assert r.header("access-control-allow-origin") == "*"
    assert r.header("access-control-allow-credentials") == "true"


@pytest_twisted.ensureDeferred
async def test_consumers_custom_id_filter(admin) -> None:
    """GET /consumers?custom_id= returns the match or an empty list; empty is 400."""
    cid = unique("cid")
    c = (await admin.post("/consumers", json_body={"custom_id": cid})).json
    assert (await admin.get(f"/consumers?custom_id={cid}")).json == {"data": [c], "next": None}
    assert (await admin.get("/consumers?custom_id=nobody-x")).json == {"data": [], "next": None}
    r = await admin.get("/consumers?custom_id=")
    assert r.status == 400 and r.json == {"message": "custom_id must be an unempty string"}
