"""acl end to end: the acls entity in the Admin API, config validation, allow/deny through the proxy."""

from __future__ import annotations

import pytest_twisted

PLUGINS = "key-auth,basic-auth,acl"
SERVICE = "echo"
ROUTES = {"r1": "/r1"}


async def _member(gw, username, *groups):
    await gw.admin("POST", "/consumers", {"username": username})
    reply = await gw.admin("POST", f"/consumers/{username}/key-auth", {"key": username + "-key"})
    assert reply.status == 201, reply
    for group in groups:
        reply = await gw.admin("POST", f"/consumers/{username}/acls", {"group": group})
        assert reply.status == 201, reply


@pytest_twisted.ensureDeferred
async def test_allow_list(env):
    """allow: members pass with X-Consumer-Groups, others get 403, unauthenticated requests 401."""
    gw, _ = env
    await gw.admin(
        "POST", "/routes/r1/plugins", {"name": "key-auth", "config": {"anonymous": "anon"}}
    )
    reply = await gw.admin(
        "POST", "/routes/r1/plugins", {"name": "acl", "config": {"allow": ["admin"]}}
    )
    assert reply.status == 201, reply
    await _member(gw, "anon")
    await _member(gw, "alice", "admin", "dev")
    await _member(gw, "bob", "dev")
    reply = await gw.proxy(
        "GET", "/r1", headers={"apikey": "alice-key", "X-Consumer-Groups": "forged"}
    )
    assert reply.status == 200, reply
    assert sorted(reply.json["headers"]["x-consumer-groups"].split(", ")) == [
        "admin",
        "dev",
    ]  # storage order
    reply = await gw.proxy("GET", "/r1", headers={"apikey": "bob-key"})
    assert (reply.status, reply.json["message"]) == (403, "You cannot consume this service")
    assert (await gw.proxy("GET", "/r1")).status == 403  # the anonymous consumer is not a member


@pytest_twisted.ensureDeferred
async def test_deny_list_and_hidden_header(env):
    """deny blocks listed groups; hide_groups_header keeps the groups from the upstream."""
    gw, _ = env
    await gw.admin("POST", "/routes/r1/plugins", {"name": "key-auth"})
    await gw.admin(
        "POST",
        "/routes/r1/plugins",
        {"name": "acl", "config": {"deny": ["banned"], "hide_groups_header": True}},
    )
    await _member(gw, "alice", "dev")
    await _member(gw, "mallory", "dev", "banned")
    reply = await gw.proxy(
        "GET", "/r1", headers={"apikey": "alice-key", "X-Consumer-Groups": "admin"}
    )
    assert reply.status == 200
    assert "x-consumer-groups" not in reply.json["headers"]
    assert (await gw.proxy("GET", "/r1", headers={"apikey": "mallory-key"})).status == 403


@pytest_twisted.ensureDeferred
async def test_without_auth_plugin_is_401(env):
    """acl alone cannot identify anyone: 401 Unauthorized."""
    gw, _ = env
    await gw.admin("POST", "/routes/r1/plugins", {"name": "acl", "config": {"allow": ["x"]}})
    reply = await gw.proxy("GET", "/r1")
    assert (reply.status, reply.json["message"]) == (401, "Unauthorized")


@pytest_twisted.ensureDeferred
async def test_group_changes_apply(env):
    """Adding and deleting a group changes the decision on the next request."""
    gw, _ = env
    await gw.admin("POST", "/routes/r1/plugins", {"name": "key-auth"})
    await gw.admin("POST", "/routes/r1/plugins", {"name": "acl", "config": {"allow": ["ops"]}})
    await _member(gw, "carol")
    assert (await gw.proxy("GET", "/r1", headers={"apikey": "carol-key"})).status == 403
    await gw.admin("POST", "/consumers/carol/acls", {"group": "ops"})
    assert (await gw.proxy("GET", "/r1", headers={"apikey": "carol-key"})).status == 200
    assert (await gw.admin("DELETE", "/consumers/carol/acls/ops")).status == 204
    assert (await gw.proxy("GET", "/r1", headers={"apikey": "carol-key"})).status == 403


@pytest_twisted.ensureDeferred
async def test_acls_admin_api(env):
    """acls: unique (consumer, group) 409, lookup by group name under the consumer, PUT by name, /acls."""
    gw, _ = env
    await _member(gw, "alice", "admin")
    await _member(gw, "bob", "admin")
    reply = await gw.admin("POST", "/consumers/alice/acls", {"group": "admin"})
    assert reply.status == 409 and reply.json["code"] == 5
    reply = await gw.admin("GET", "/consumers/alice/acls/admin")
    assert reply.status == 200 and reply.json["group"] == "admin"
    reply = await gw.admin("PUT", "/consumers/alice/acls/ops", {})
    assert reply.status == 200 and reply.json["group"] == "ops"
    reply = await gw.admin("GET", "/acls")
    assert sorted(r["group"] for r in reply.json["data"]) == ["admin", "admin", "ops"]
    reply = await gw.admin("POST", "/consumers/alice/acls", {})
    assert reply.status == 400 and reply.json["fields"]["group"] == "required field missing"


@pytest_twisted.ensureDeferred
async def test_config_validation(env):
    """Exactly one of allow/deny: both or neither is a 400 schema violation; the schema is served."""
    gw, _ = env
    reply = await gw.admin(
        "POST", "/plugins", {"name": "acl", "config": {"allow": ["a"], "deny": ["b"]}}
    )
    assert reply.status == 400
    assert reply.json["message"] == (
        "schema violation (exactly one of these fields must be non-empty: "
        "'config.allow', 'config.deny')"
    )
    reply = await gw.admin("POST", "/plugins", {"name": "acl", "config": {}})
    assert reply.status == 400
    assert (
        "at least one of these fields must be non-empty: 'config.allow', 'config.deny'"
        in reply.json["message"]
    )
    reply = await gw.admin("GET", "/schemas/plugins/acl")
    assert reply.status == 200
    assert {"only_one_of": ["config.allow", "config.deny"]} in reply.json["entity_checks"]
