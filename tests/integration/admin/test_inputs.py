"""Input decoding and bad-input answers, each checked for 'nothing was written'."""

from __future__ import annotations

import pytest
import pytest_twisted

from tests.integration.admin.conftest import unique


async def _absent(admin, path: str) -> None:
    r = await admin.get(path)
    assert r.status == 404, (path, r.status, r.raw)


@pytest_twisted.ensureDeferred
async def test_form_arrays_and_booleans(admin) -> None:
    """Form input: repeated keys and [] build arrays; "false" becomes a boolean."""
    svc = (
        await admin.post(
            "/services", form={"name": unique("f"), "host": "f.example", "port": "8080"}
        )
    ).json
    assert svc["port"] == 8080
    rname = unique("fr")
    r = await admin.post(
        "/routes",
        form=[
            ("name", rname),
            ("hosts", "a.example"),
            ("hosts", "b.example"),
            ("paths[]", "/one"),
            ("strip_path", "false"),
            ("service.id", svc["id"]),
            ("tags[]", "t1"),
        ],
    )
    assert r.status == 201, r.raw
    route = r.json
    assert route["hosts"] == ["a.example", "b.example"] and route["paths"] == ["/one"]
    assert (
        route["strip_path"] is False
        and route["service"] == {"id": svc["id"]}
        and route["tags"] == ["t1"]
    )


@pytest_twisted.ensureDeferred
async def test_multipart_input(admin) -> None:
    """multipart/form-data bodies decode like forms."""
    name = unique("mp")
    parts = b"".join(
        b'--B\r\nContent-Disposition: form-data; name="' + k + b'"\r\n\r\n' + v + b"\r\n"
        for k, v in (
            (b"name", name.encode()),
            (b"host", b"m.example"),
            (b"tags[1]", b"x"),
            (b"tags[2]", b"y"),
        )
    )
    r = await admin.post(
        "/services",
        body=parts + b"--B--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=B"},
    )
    assert r.status == 201, r.raw
    assert r.json["name"] == name and r.json["tags"] == ["x", "y"]


@pytest_twisted.ensureDeferred
async def test_nested_config_patch_merges(admin) -> None:
    """PATCH merges nested records: healthchecks.active.timeout keeps the other defaults."""
    name = unique("up")
    up = (await admin.post("/upstreams", json_body={"name": name})).json
    r = await admin.patch(f"/upstreams/{name}", form={"healthchecks.active.timeout": "7"})
    assert r.status == 200, r.raw
    active = r.json["healthchecks"]["active"]
    assert active["timeout"] == 7
    assert active["http_path"] == up["healthchecks"]["active"]["http_path"] == "/"


@pytest_twisted.ensureDeferred
async def test_malformed_json(admin) -> None:
    """Malformed JSON is 400 Cannot parse JSON body and nothing is written."""
    name = unique("bad")
    r = await admin.post(
        "/services",
        body=b'{"name": "' + name.encode() + b'", ',
        headers={"Content-Type": "application/json"},
    )
    assert r.status == 400 and r.json == {"message": "Cannot parse JSON body"}
    await _absent(admin, f"/services/{name}")


@pytest_twisted.ensureDeferred
async def test_unsupported_content_type(admin) -> None:
    """A text/plain body is 415 with an empty body."""
    r = await admin.post("/services", body=b"name=x", headers={"Content-Type": "text/plain"})
    assert r.status == 415 and r.raw == b""


@pytest_twisted.ensureDeferred
async def test_multiple_content_types(admin) -> None:
    """Two Content-Type headers are rejected."""
    r = await admin.post(
        "/services", body=b"{}", headers={"Content-Type": ["application/json", "application/json"]}
    )
    assert r.status == 400 and r.json == {"message": "Multiple Content-Type headers not allowed"}


@pytest.mark.parametrize(
    "extra,fields,message",
    [
        ({"foo": 1}, {"foo": "unknown field"}, "schema violation (foo: unknown field)"),
        (
            {"port": "abc"},
            {"port": "expected an integer"},
            "schema violation (port: expected an integer)",
        ),
        (
            {"port": 70000},
            {"port": "value should be between 0 and 65535"},
            "schema violation (port: value should be between 0 and 65535)",
        ),
        (
            {"retries": -1, "port": 70000},
            {
                "retries": "value should be between 0 and 32767",
                "port": "value should be between 0 and 65535",
            },
            (
                "2 schema violations (port: value should be between 0 and 65535; "
                "retries: value should be between 0 and 32767)"
            ),
        ),
    ],
)
@pytest_twisted.ensureDeferred
async def test_schema_violations(admin, extra, fields, message) -> None:
    """Unknown fields, wrong types and out-of-range values answer Kong's exact body."""
    name = unique("sv")
    r = await admin.post("/services", json_body={"name": name, "host": "v.example", **extra})
    assert r.status == 400
    assert r.json == {"code": 2, "name": "schema violation", "message": message, "fields": fields}
    await _absent(admin, f"/services/{name}")


@pytest_twisted.ensureDeferred
async def test_duplicate_name_is_409(admin) -> None:
    """A second service with the same name is a unique violation; the first is unchanged."""
    name = unique("dup")
    first = (await admin.post("/services", json_body={"name": name, "host": "one.example"})).json
    r = await admin.post("/services", json_body={"name": name, "host": "two.example"})
    assert r.status == 409
    assert r.json == {
        "code": 5,
        "name": "unique constraint violation",
        "message": f"UNIQUE violation detected on '{{name=\"{name}\"}}'",
        "fields": {"name": name},
    }
    assert (await admin.get(f"/services/{name}")).json == first


@pytest_twisted.ensureDeferred
async def test_dangling_foreign_key(admin) -> None:
    """A route pointing at a missing service is a foreign key violation; nothing written."""
    missing = "00000000-0000-4000-8000-000000000001"
    rname = unique("dangle")
    r = await admin.post(
        "/routes", json_body={"name": rname, "paths": ["/d"], "service": {"id": missing}}
    )
    assert r.status == 400
    assert r.json == {
        "code": 4,
        "name": "foreign key violation",
        "message": f"the foreign key '{{id=\"{missing}\"}}' does not reference"
        " an existing 'services' entity.",
        "fields": {"service": {"id": missing}},
    }
    await _absent(admin, f"/routes/{rname}")


@pytest_twisted.ensureDeferred
async def test_missing_required_field(admin) -> None:
    """A service without host is refused with required field missing."""
    name = unique("req")
    r = await admin.post("/services", form={"name": name})
    assert r.status == 400
    assert r.json == {
        "code": 2,
        "name": "schema violation",
        "message": "schema violation (host: required field missing)",
        "fields": {"host": "required field missing"},
    }
    await _absent(admin, f"/services/{name}")
