"""Admin API answers that follow Kong's own code paths (issue 15): url shorthand,
targets, ids of entities without an endpoint key."""

from __future__ import annotations

import pytest_twisted

from tests.integration.admin.conftest import unique


@pytest_twisted.ensureDeferred
async def test_service_url_without_scheme_is_a_path(admin) -> None:
    """ "invalid url" parses as a path with no host: Kong's two schema violations, nothing stored."""
    name = unique("svc")
    reply = await admin.post("/services", json_body={"name": name, "url": "invalid url"})
    assert reply.status == 400
    assert reply.json == {
        "code": 2,
        "name": "schema violation",
        "message": "2 schema violations (host: required field missing; path: should start with: /)",
        "fields": {"host": "required field missing", "path": "should start with: /"},
    }
    assert (await admin.get(f"/services/{name}")).status == 404


@pytest_twisted.ensureDeferred
async def test_service_url_wins_over_host_and_port(admin) -> None:
    """url with host/port/path: the url's parts are stored (Kong's shorthand takes precedence)."""
    reply = await admin.post(
        "/services",
        json_body={
            "name": unique("svc"),
            "url": "https://a.example:8443",
            "host": "b.example",
            "port": 81,
            "path": "/p",
        },
    )
    assert reply.status == 201, reply.json
    body = reply.json
    assert (body["protocol"], body["host"], body["port"], body["path"]) == (
        "https",
        "a.example",
        8443,
        None,
    )
    reply = await admin.patch(f"/services/{body['id']}", json_body={"url": "//c.example/x"})
    assert reply.status == 200, reply.json
    assert (reply.json["host"], reply.json["port"], reply.json["path"]) == ("c.example", 80, "/x")


@pytest_twisted.ensureDeferred
async def test_invalid_target_is_refused_before_validation(admin) -> None:
    """POST/PUT of a bad target: Kong's DAO message, before any other check."""
    upstream = (await admin.post("/upstreams", json_body={"name": unique("up")})).json
    reply = await admin.post(
        f"/upstreams/{upstream['id']}/targets", json_body={"target": "bad host", "weight": -1}
    )
    assert reply.status == 400
    assert reply.json == {
        "code": 2,
        "name": "schema violation",
        "message": "schema violation (target: Invalid target; not a valid hostname or ip address)",
        "fields": {"target": "Invalid target; not a valid hostname or ip address"},
    }
    targets = (await admin.get(f"/upstreams/{upstream['id']}/targets")).json
    assert targets["data"] == []


@pytest_twisted.ensureDeferred
async def test_non_uuid_id_without_endpoint_key_is_invalid_primary_key(admin) -> None:
    """ca_certificates have no endpoint key: a non-UUID id is Kong's 400 on every verb."""
    expected = {
        "code": 1,
        "name": "invalid primary key",
        "message": "invalid primary key: '{id=\"expected a valid UUID\"}'",
        "fields": {"id": "expected a valid UUID"},
    }
    for method in ("get", "patch", "delete"):
        reply = await getattr(admin, method)("/ca_certificates/not-a-uuid")
        assert reply.status == 400 and reply.json == expected, method


AT_LEAST = "At least a 'request_host' or a 'request_path' must be specified"


@pytest_twisted.ensureDeferred
async def test_apis_09_validation_messages(admin) -> None:
    """0.9 form: both fields named when neither is given (no 'name is required'); 0.9's
    'Invalid value' for a bad request_host; the name is derived from request_host."""
    reply = await admin.post("/apis", form={"request_host": "", "upstream_url": "http://x.test"})
    assert reply.status == 400
    assert reply.json == {"request_host": AT_LEAST, "request_path": AT_LEAST}
    reply = await admin.post(
        "/apis", json_body={"request_host": "my-api", "upstream_url": "http://my-api.con"}
    )
    assert reply.status == 400 and reply.json == {"request_host": "Invalid value: my-api"}
    host = f"{unique('api')}.test"
    reply = await admin.post("/apis", json_body={"request_host": host, "upstream_url": "http://x"})
    assert reply.status == 201 and reply.json["name"] == host


@pytest_twisted.ensureDeferred
async def test_apis_writes_are_one_transaction(admin) -> None:
    """A PATCH whose route part fails leaves the service part unchanged too."""
    name = unique("tx")
    reply = await admin.post(
        "/apis",
        json_body={"name": name, "hosts": ["tx.example"], "upstream_url": "http://a.example"},
    )
    assert reply.status == 201, reply.json
    reply = await admin.patch(
        f"/apis/{name}",
        json_body={"upstream_url": "http://b.example", "retries": 1, "hosts": ["bad host!"]},
    )
    assert reply.status == 400 and "hosts" in reply.json, reply.json
    after = (await admin.get(f"/apis/{name}")).json
    assert after["upstream_url"] == "http://a.example" and after["retries"] == 5
    service = (await admin.get(f"/services/{name}")).json
    assert service["host"] == "a.example" and service["retries"] == 5


@pytest_twisted.ensureDeferred
async def test_apis_09_request_host_and_path_are_unique(admin) -> None:
    """0.9: a second API with the same request_host (or request_path) is a 409."""
    host = f"{unique('uniq')}.test"
    path = f"/{unique('p')}"
    first = await admin.post(
        "/apis", json_body={"request_host": host, "request_path": path, "upstream_url": "http://x"}
    )
    assert first.status == 201, first.json
    reply = await admin.post(
        "/apis", json_body={"name": unique("n"), "request_host": host, "upstream_url": "http://x"}
    )
    assert reply.status == 409 and reply.json == {
        "request_host": f"already exists with value '{host}'"
    }
    reply = await admin.post(
        "/apis", json_body={"name": unique("n"), "request_path": path, "upstream_url": "http://x"}
    )
    assert reply.status == 409 and reply.json == {
        "request_path": f"already exists with value '{path}'"
    }
    # the API itself may be written again
    reply = await admin.patch(f"/apis/{first.json['id']}", json_body={"preserve_host": True})
    assert reply.status == 200, reply.json
