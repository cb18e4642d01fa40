"""Attacks on the Admin API (issue 15, Security): refused with Kong's answers, nothing written."""

from __future__ import annotations

import pytest
import pytest_twisted

from tests.integration.admin.conftest import unique


async def _route_count(admin) -> int:
    return len((await admin.get("/routes?size=1000")).json["data"])


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("paths", ["~/(?=admin)x"], "look-around, including look-ahead and look-behind"),
        ("paths", ["~/v(?<!0)"], "look-around, including look-ahead and look-behind"),
        ("paths", [r"~/(a)\1"], "backreferences are not supported"),
        ("headers", {"x-q": [r"~*(?!a)b"]}, "look-around, including look-ahead and look-behind"),
    ],
    ids=["lookahead", "lookbehind", "backreference", "header"],
)
@pytest_twisted.ensureDeferred
async def test_route_regex_the_router_cannot_run_is_refused(admin, field, value, reason) -> None:
    """Regexes that need backtracking (valid PCRE, refused by Kong 3.x's Rust router) get
    Kong's 'Router Expression failed validation' schema violation; nothing is written."""
    before = await _route_count(admin)
    r = await admin.post("/routes", json_body={"name": unique("re"), field: value})
    assert r.status == 400, r.raw
    body = r.json
    assert body["code"] == 2 and body["name"] == "schema violation"
    (message,) = body["fields"]["@entity"]
    assert message.startswith("Router Expression failed validation: regex parse error: ")
    assert reason in message
    assert body["message"] == f"schema violation ({message})"
    assert await _route_count(admin) == before


@pytest_twisted.ensureDeferred
async def test_route_regex_linear_engine_accepts_kong_syntax(admin) -> None:
    """Named groups in PCRE form and nested quantifiers are fine for a linear-time engine."""
    r = await admin.post(
        "/routes", json_body={"name": unique("re"), "paths": [r"~/u/(?<id>\d+)$", "~/(a+)+$"]}
    )
    assert r.status == 201, r.raw


@pytest_twisted.ensureDeferred
async def test_invalid_pcre_keeps_kong_field_message(admin) -> None:
    """A regex that is not even valid PCRE keeps Kong's per-path message."""
    r = await admin.post("/routes", json_body={"paths": ["~/(unclosed"]})
    assert r.status == 400
    assert r.json["fields"]["paths"][0].startswith("invalid regex: '/(unclosed' (PCRE returned: ")
