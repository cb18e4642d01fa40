"""Unit tests of acl: allow/deny decisions, 401/403, groups headers, authenticated groups."""

from __future__ import annotations

from typing import Any

import pytest

from kongtx.errors import ProxyExit
from kongtx.plugins.acl.handler import AclHandler as Handler
from kongtx.plugins.acl.handler import blocked, prepare
from kongtx.plugins.testing import make_entities, run_hook
from tests.unit.plugins.test_authn import consumer, make_ctx, new_id

ALICE = consumer("alice")
NOBODY = consumer("nobody")


def acl(owner: dict[str, Any], group: str) -> dict[str, Any]:
    return {
        "id": new_id(),
        "consumer": {"id": owner["id"]},
        "group": group,
        "created_at": 1,
        "tags": None,
    }


ROWS = {"consumers": [ALICE, NOBODY], "acls": [acl(ALICE, "admin"), acl(ALICE, "dev")]}


def conf(**kw: Any) -> dict[str, Any]:
    out = {
        "allow": None,
        "deny": None,
        "hide_groups_header": False,
        "always_use_authenticated_groups": False,
    }
    out.update(kw)
    return out


def authed(who: dict[str, Any], credential: bool = True, **kw: Any) -> Any:
    ctx = make_ctx(ROWS, **kw)
    ctx.authenticate(who, {"id": "cred"} if credential else None)
    return ctx


def check(ctx: Any, config: dict[str, Any]) -> ProxyExit | None:
    return run_hook(Handler(), "access", ctx, config)


def test_decision_table() -> None:
    """allow needs one listed group; deny refuses any listed group."""
    assert not blocked(prepare(conf(allow=["a", "b"])), ("b",))
    assert blocked(prepare(conf(allow=["a"])), ("c",))
    assert blocked(prepare(conf(allow=["a"])), ())
    assert blocked(prepare(conf(deny=["a"])), ("c", "a"))
    assert not blocked(prepare(conf(deny=["a"])), ())


def test_no_consumer_is_401_and_credential_only_is_403() -> None:
    """Nothing authenticated: 401 Unauthorized; a credential without consumer: 403."""
    exc = check(make_ctx(ROWS), conf(allow=["admin"]))
    assert (exc.status, exc.message) == (401, "Unauthorized")
    ctx = make_ctx(ROWS)
    ctx.authenticate(None, {"id": "c"})
    exc = check(ctx, conf(allow=["admin"]))
    assert (exc.status, exc.message) == (403, "You cannot consume this service")


def test_allowed_sets_consumer_groups_header() -> None:
    """An allowed consumer passes with ``X-Consumer-Groups`` listing its groups in order."""
    ctx = authed(ALICE, headers=[("X-Consumer-Groups", "forged")])
    assert check(ctx, conf(allow=["dev"])) is None
    assert ctx.request.headers.get_all("x-consumer-groups") == ["admin, dev"]


def test_blocked_consumers() -> None:
    """Not in allow, or in deny: 403 You cannot consume this service."""
    for who, config in ((NOBODY, conf(allow=["admin"])), (ALICE, conf(deny=["dev"]))):
        exc = check(authed(who), config)
        assert (exc.status, exc.message) == (403, "You cannot consume this service")
    assert check(authed(NOBODY), conf(deny=["admin"])) is None


def test_hide_groups_header() -> None:
    """hide_groups_header sends no groups header (and drops a client-supplied one)."""
    ctx = authed(ALICE, headers=[("X-Consumer-Groups", "forged")])
    assert check(ctx, conf(allow=["admin"], hide_groups_header=True)) is None
    assert "x-consumer-groups" not in ctx.request.headers


def test_authenticated_groups_without_consumer() -> None:
    """Groups authenticated by another plugin are used when there is no consumer."""
    ctx = make_ctx(ROWS)
    ctx.authenticated_groups = ["ops"]
    assert check(ctx, conf(allow=["ops"])) is None
    assert ctx.request.headers.get("x-authenticated-groups") == "ops"
    assert "x-consumer-groups" not in ctx.request.headers
    ctx = make_ctx(ROWS)
    ctx.shared["authenticated_groups"] = ["dev"]
    assert check(ctx, conf(allow=["ops"])).status == 403


@pytest.mark.parametrize(
    "always, credential, expected",
    [
        (False, True, "X-Consumer-Groups"),  # real credential: the consumer's groups
        (
            False,
            False,
            "X-Authenticated-Groups",
        ),  # anonymous consumer: authenticated groups override
        (True, True, "X-Authenticated-Groups"),  # always_use_authenticated_groups
    ],
)
def test_authenticated_groups_precedence(always: bool, credential: bool, expected: str) -> None:
    """Authenticated groups replace the consumer's for anonymous or with always_use_authenticated_groups."""
    ctx = authed(ALICE, credential=credential)
    ctx.authenticated_groups = ["ops"]
    allow = ["ops"] if expected == "X-Authenticated-Groups" else ["admin"]
    assert check(ctx, conf(allow=allow, always_use_authenticated_groups=always)) is None
    assert ctx.request.headers.get(expected) == ("ops" if "Auth" in expected else "admin, dev")


def test_groups_come_from_the_entity_cache() -> None:
    """A consumer's groups are read once (``acls:<consumer id>:::::``), then served from the
    cache; a change event for one of its ACL rows makes the next request read them again."""
    from kongtx.cache import cache_key
    from kongtx.store.events import ChangeEvent

    rows = {"consumers": [ALICE], "acls": [acl(ALICE, "admin")]}
    entities = make_entities(rows)
    ctx = make_ctx(entities)
    ctx.authenticate(ALICE, {"id": "cred"})
    assert check(ctx, conf(allow=["admin"])) is None
    assert cache_key("acls", ALICE["id"]) in entities.cache
    queries = entities.source.queries
    assert check(ctx, conf(allow=["admin"])) is None
    assert entities.source.queries == queries
    ops = acl(ALICE, "ops")
    rows["acls"] = [ops]
    entities.on_change(ChangeEvent("acls", "create", ops["id"], ops))
    assert check(ctx, conf(allow=["admin"])).status == 403
    assert entities.source.queries == queries + 1
