"""``kongtx reload``: on SIGHUP the running node re-reads its configuration.

What changes live: the declarative file (``database = off``: parsed and
swapped in like ``POST /config``) and, with a database, the whole routing
state (rebuilt from the store, e.g. after ``kongtx config db_import`` on
SQLite). Listeners stay open and connections in flight are untouched; other
changed settings are logged as needing a restart.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kongtx.errors import ConfigError, KongtxError
from kongtx.store.events import FULL_RELOAD

__all__ = ["HangupReloader"]

log = Logger()

#: settings a reload applies without a restart
LIVE = frozenset({"declarative_config", "declarative_config_string"})


class HangupReloader(Service):
    """Reload ``node`` on SIGHUP.

    :param reactor: the reactor (``callFromThread``).
    :param node: the :class:`~kongtx.service.GatewayNode` serving the Admin API.
    :param load: returns the configuration as it now reads (file, environment, options).
    """

    def __init__(self, reactor: Any, node: Any, load: Callable[[], Any]) -> None:
        self.reactor = reactor
        self.node = node
        self.load = load
        self._previous: Any = None

    def startService(self) -> None:
        super().startService()
        self._previous = signal.signal(signal.SIGHUP, self._on_signal)

    def stopService(self) -> Any:
        if self._previous is not None:
            signal.signal(signal.SIGHUP, self._previous)
            self._previous = None
        return super().stopService()

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.reactor.callFromThread(self.reload)

    def reload(self) -> Deferred[None]:
        """Re-read the configuration and apply what can change live."""
        d = Deferred.fromCoroutine(self._reload())
        d.addErrback(lambda f: log.failure("reload failed; the previous configuration stays", f))
        return d

    async def _reload(self) -> None:
        try:
            config = self.load()
        except ConfigError as exc:
            log.error("reload: {error}; the previous configuration stays", error=str(exc))
            return
        old = self.node.config.raw
        new = config.raw
        changed = sorted(k for k in new if new.get(k) != old.get(k) and k not in LIVE)
        if changed:
            log.warn(  # noqa: G010 - twisted's Logger has no warning()
                "reload: {settings} changed; they take effect on restart",
                settings=", ".join(changed),
            )
        node = self.node
        if node.declarative is not None:
            try:
                loaded = await node.declarative.load_configured(config)
            except (KongtxError, ConfigError) as exc:
                log.error("reload: {error}; the previous configuration stays", error=str(exc))
                return
            log.info(
                "reload: declarative configuration {what}",
                what="loaded" if loaded else "unchanged (none configured)",
            )
        elif node.dao is not None:
            node.dao.fire(FULL_RELOAD)
            log.info("reload: configuration rebuilt from the database")
