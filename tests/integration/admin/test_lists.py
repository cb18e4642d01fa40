"""Pagination, tag filters and /tags."""

from __future__ import annotations

import pytest
import pytest_twisted

from tests.integration.admin.conftest import unique


async def _tagged_services(admin, count: int, *tags: str) -> list[dict]:
    rows = []
    for _ in range(count):
        r = await admin.post(
            "/services", json_body={"name": unique("pg"), "host": "p.example", "tags": list(tags)}
        )
        assert r.status == 201, r.raw
        rows.append(r.json)
    return rows


@pytest_twisted.ensureDeferred
async def test_pagination_follows_next(admin) -> None:
    """size=2 over 5 rows: next carries offset, tags and size; the last page has next null."""
    tag = unique("page")
    created = {row["id"] for row in await _tagged_services(admin, 5, tag)}
    seen: list[str] = []
    path = f"/services?tags={tag}&size=2"
    pages = 0
    while path is not None:
        body = (await admin.get(path)).json
        pages += 1
        seen.extend(row["id"] for row in body["data"])
        if body["next"] is not None:
            assert body["next"].startswith("/services?offset=")
            assert body["next"].endswith(f"&tags={tag}&size=2")
            assert "offset" in body
        else:
            assert "offset" not in body
        path = body["next"]
    assert pages == 3 and len(seen) == 5 and set(seen) == created


@pytest_twisted.ensureDeferred
async def test_empty_list_shape(admin) -> None:
    """An empty list is {"data": [], "next": null}."""
    r = await admin.get(f"/services?tags={unique('none')}")
    assert r.status == 200 and r.json == {"data": [], "next": None}


@pytest.mark.parametrize(
    "query,message",
    [
        ("size=abc", "size must be a number"),
        ("size=0", "size must be an integer between 1 and 1000"),
        ("size=1001", "size must be an integer between 1 and 1000"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_size(admin, query, message) -> None:
    """Bad sizes answer 400 code 9."""
    r = await admin.get(f"/services?{query}")
    assert r.status == 400
    assert r.json == {"code": 9, "name": "invalid size", "message": message}


@pytest_twisted.ensureDeferred
async def test_bad_offset(admin) -> None:
    """A garbage offset token answers 400 code 7."""
    r = await admin.get("/services?offset=%25%25not-base64%25")
    assert r.status == 400
    body = r.json
    assert body["code"] == 7 and body["name"] == "invalid offset"
    assert body["message"].startswith("'%%not-base64%' is not a valid offset: ")


@pytest_twisted.ensureDeferred
async def test_tag_filters(admin) -> None:
    """tags=a,b is AND; tags=a/b is OR; mixing is an invalid option."""
    a, b = unique("ta"), unique("tb")
    only_a = await _tagged_services(admin, 1, a)
    both = await _tagged_services(admin, 1, a, b)
    only_b = await _tagged_services(admin, 1, b)

    async def ids(query: str) -> set[str]:
        r = await admin.get(f"/services?tags={query}")
        assert r.status == 200, r.raw
        return {row["id"] for row in r.json["data"]}

    assert await ids(a) == {only_a[0]["id"], both[0]["id"]}
    assert await ids(f"{a},{b}") == {both[0]["id"]}
    assert await ids(f"{a}/{b}") == {only_a[0]["id"], both[0]["id"], only_b[0]["id"]}
    r = await admin.get(f"/services?tags={a},{b}/c")
    assert r.status == 400
    assert r.json == {
        "code": 11,
        "name": "invalid options",
        "message": "invalid option (tags: invalid filter syntax)",
        "options": {"tags": "invalid filter syntax"},
    }
    r = await admin.get("/services?tags=1,2,3,4,5,6")
    assert (
        r.status == 400
        and r.json["message"] == "invalid option (tags: cannot query more than 5 tags)"
    )


@pytest_twisted.ensureDeferred
async def test_nested_list_ignores_tags_and_next_is_nested(admin) -> None:
    """Nested lists ignore ?tags= and their next link keeps the parent as given."""
    svc = (
        await admin.post("/services", json_body={"name": unique("nl"), "host": "n.example"})
    ).json
    for i in range(3):
        r = await admin.post(f"/services/{svc['name']}/routes", json_body={"paths": [f"/p{i}"]})
        assert r.status == 201
    body = (await admin.get(f"/services/{svc['name']}/routes?size=2&tags=zzz")).json
    assert len(body["data"]) == 2
    assert body["next"].startswith(f"/services/{svc['name']}/routes?offset=")
    assert "size=" not in body["next"]


@pytest_twisted.ensureDeferred
async def test_tags_endpoints(admin) -> None:
    """/tags lists (entity, id, tag) triples; /tags/{tag} filters them."""
    tag = unique("tt")
    svc = (await _tagged_services(admin, 1, tag))[0]
    consumer = (
        await admin.post("/consumers", json_body={"username": unique("u"), "tags": [tag]})
    ).json
    body = (await admin.get(f"/tags/{tag}")).json
    assert sorted((d["entity_name"], d["entity_id"]) for d in body["data"]) == sorted(
        [("services", svc["id"]), ("consumers", consumer["id"])]
    )
    assert all(d["tag"] == tag for d in body["data"]) and body["next"] is None
    everything = []
    path = "/tags?size=3"
    while path:
        page = (await admin.get(path)).json
        everything.extend(page["data"])
        path = page["next"]
    assert {"entity_name": "services", "entity_id": svc["id"], "tag": tag} in everything
