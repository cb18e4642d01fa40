"""``bot-detection`` handler: allow regexes, then deny regexes, then Kong's bot rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kongtx import KONG_COMPAT_VERSION
from kongtx.errors import ProxyExit
from kongtx.plugins.base import PluginHandler, ProxyContext
from kongtx.plugins.bot_detection.rules import BOTS_RE
from kongtx.schema.typedefs import pcre_to_python

ALLOWED = 0
DENIED = 1
BOT = 2

#: Verdicts remembered per config (Kong keeps an LRU of 10^4 User-Agents).
CACHE_SIZE = 10000


def _compile_all(patterns: list[str] | None) -> tuple[re.Pattern[str], ...]:
    # Kept apart (not one alternation): a user pattern may carry its own inline flags.
    return tuple(re.compile(pcre_to_python(p)) for p in patterns or ())


class Detector:
    """One config: its allow/deny regexes compiled and a cache of verdicts."""

    __slots__ = ("allow", "deny", "_seen")

    def __init__(self, conf: dict[str, Any]) -> None:
        self.allow = _compile_all(conf.get("allow"))
        self.deny = _compile_all(conf.get("deny"))
        self._seen: dict[str, int] = {}

    def examine(self, user_agent: str) -> int:
        """``ALLOWED``, ``DENIED`` (a deny rule) or ``BOT`` (a built-in rule) for ``user_agent``."""
        verdict = self._seen.get(user_agent)
        if verdict is None:
            verdict = self._examine(user_agent.strip())
            if len(self._seen) >= CACHE_SIZE:
                self._seen.clear()
            self._seen[user_agent] = verdict
        return verdict

    def _examine(self, user_agent: str) -> int:
        for rule in self.allow:
            if rule.search(user_agent):
                return ALLOWED
        for rule in self.deny:
            if rule.search(user_agent):
                return DENIED
        if BOTS_RE.search(user_agent):
            return BOT
        return ALLOWED


class BotDetectionHandler(PluginHandler):
    """Kong's ``bot-detection`` plugin."""

    name = "bot-detection"
    priority = 2500
    version = KONG_COMPAT_VERSION

    def compile(self, conf: dict[str, Any], plugin: Mapping[str, Any] | None = None) -> Any:
        """Digest one configuration (once, in the snapshot)."""
        return Detector(conf)

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> None:
        agents = ctx.request.headers.get_all("user-agent")
        if not agents:
            return
        if len(agents) > 1:
            raise ProxyExit(400, "Only one User-Agent header allowed")
        if self.compiled(conf).examine(agents[0]) != ALLOWED:
            raise ProxyExit(403, "Forbidden")
