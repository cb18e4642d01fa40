"""bot-detection: Kong's built-in rules, allow/deny precedence, User-Agent edge cases."""

from __future__ import annotations

import pytest

from kongtx.errors import ProxyExit
from kongtx.plugins.bot_detection.handler import ALLOWED, BOT, DENIED, Detector
from kongtx.plugins.bot_detection.handler import BotDetectionHandler as Handler
from kongtx.plugins.bot_detection.rules import BOTS, BOTS_RE
from kongtx.plugins.testing import make_context

CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10_4) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/43.0.2357.130 Safari/537.36"
)


def _run(conf: dict, agents: list[str]) -> ProxyExit | None:
    ctx = make_context(headers=[("User-Agent", a) for a in agents])
    try:
        Handler().access(ctx, conf)
    except ProxyExit as exc:
        return exc
    return None


@pytest.mark.parametrize(
    "agent, bot",
    [
        (CHROME, False),
        ("Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; Trident/6.0)", False),
        ("curl/7.43.0", False),
        ("Mozilla/5.0 (Linux; Android 5.0; CUBOT X6 Build/LRX21M)", False),
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", True),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", True),
        ("facebookexternalhit/1.1", True),
        ("Twitterbot/1.0", True),
        ("Python-urllib/3.9", True),
        ("Apache-HttpClient/4.5.2 (Java/1.8.0_131)", True),
        ("Scrapy/2.5.0 (+https://scrapy.org)", True),
        ("MyCrawler 2.0", True),
    ],
)
def test_builtin_rules(agent, bot):
    """Browsers and curl pass; known bots and generic *bot/*spider/*crawl agents match."""
    assert bool(BOTS_RE.search(agent)) is bot
    assert (_run({"allow": [], "deny": []}, [agent]) is not None) is bot


def test_rules_each_compile():
    """Every built-in rule is a valid Python regex on its own."""
    import re

    assert all(re.compile(rule) for rule in BOTS)


def test_no_user_agent_passes():
    """A request without User-Agent is allowed."""
    assert _run({"allow": [], "deny": []}, []) is None


def test_several_user_agents_is_400():
    """Two User-Agent headers are a 400 with Kong's message."""
    exc = _run({"allow": [], "deny": []}, ["a", "b"])
    assert (exc.status, exc.message) == (400, "Only one User-Agent header allowed")


def test_blocked_is_403_forbidden():
    """A bot gets Kong's 403 Forbidden error."""
    exc = _run({"allow": [], "deny": []}, ["Googlebot/2.1"])
    assert (exc.status, exc.message) == (403, "Forbidden")


def test_deny_rule():
    """A deny regex refuses an agent the built-in rules allow."""
    assert _run({"allow": [], "deny": ["^curl/"]}, ["curl/7.43.0"]).status == 403
    assert Detector({"allow": [], "deny": ["^curl/"]}).examine("curl/7.43.0") == DENIED


def test_allow_overrides_builtin_and_deny():
    """An allow regex wins over both deny regexes and the built-in rules."""
    conf = {"allow": ["facebookexternalhit/"], "deny": ["facebook"]}
    assert _run(conf, ["facebookexternalhit/1.1"]) is None


def test_agent_is_stripped_and_verdict_cached():
    """Surrounding blanks are ignored; the verdict is cached per agent."""
    detector = Detector({"allow": [], "deny": ["^curl$"]})
    assert detector.examine("  curl  ") == DENIED
    assert detector._seen["  curl  "] == DENIED
    assert detector.examine("Googlebot/2.1") == BOT
    assert detector.examine(CHROME) == ALLOWED


def test_null_lists():
    """Null allow/deny (explicitly unset) behave like empty lists."""
    assert _run({"allow": None, "deny": None}, [CHROME]) is None
