"""bot-detection end to end: built-in rules, allow/deny, Admin API validation."""

from __future__ import annotations

import pytest_twisted

PLUGINS = "ip-restriction,cors,bot-detection,request-size-limiting,request-termination"
CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10_4) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/43.0.2357.130 Safari/537.36"
)


@pytest_twisted.ensureDeferred
async def test_builtin_rules_and_lists(env):
    """Browsers and curl pass, Googlebot is 403; deny and allow lists change the verdict."""
    gw, upstream = env
    for name, config in (
        ("plain", {}),
        ("lists", {"allow": ["facebookexternalhit/"], "deny": ["^curl/"]}),
    ):
        await gw.route_with_plugin(name, "bot-detection", config)
    for agent in (CHROME, "curl/7.43.0"):
        reply = await gw.proxy("GET", "/plain", headers={"User-Agent": agent})
        assert reply.status == 200, agent
    reply = await gw.proxy(
        "GET", "/plain", headers={"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}
    )
    assert reply.status == 403
    assert reply.json["message"] == "Forbidden"
    reply = await gw.proxy("GET", "/plain", headers={"User-Agent": "facebookexternalhit/1.1"})
    assert reply.status == 403
    reply = await gw.proxy("GET", "/lists", headers={"User-Agent": "facebookexternalhit/1.1"})
    assert reply.status == 200
    reply = await gw.proxy("GET", "/lists", headers={"User-Agent": "curl/7.43.0"})
    assert reply.status == 403
    reply = await gw.proxy("GET", "/plain", headers={"User-Agent": ["a", "b"]})
    assert reply.status == 400
    assert reply.json["message"] == "Only one User-Agent header allowed"
    assert len(upstream.requests) == 3


@pytest_twisted.ensureDeferred
async def test_admin_validation(env):
    """A bad regex is a 400 schema violation; defaults are empty lists."""
    gw, _ = env
    reply = await gw.admin(
        "POST", "/plugins", {"name": "bot-detection", "config": {"allow": ["[unclosed"]}}
    )
    assert reply.status == 400
    assert reply.json["fields"]["config"]["allow"] == ["not a valid regex: [unclosed"]
    reply = await gw.admin("POST", "/plugins", {"name": "bot-detection"})
    assert reply.status == 201
    assert reply.json["config"] == {"allow": [], "deny": []}
