"""Scenario (g) of bench/run: ten plugins that do nothing (``bench-noop-0`` .. ``bench-noop-9``).

Each hooks ``access``, ``header_filter`` and ``log`` and returns at once, so a
route with all ten measures what the plugin pipeline itself costs per plugin.
Put ``bench/noop_plugins`` on ``PYTHONPATH`` (its dist-info declares the
``kongtx.plugins`` entry points) and add the names to ``plugins``.
"""

from __future__ import annotations

from kongtx.plugins.base import PluginConfig, PluginHandler, ProxyContext
from kongtx.schema.fields import Record

#: The config of every noop plugin: no field.
CONFIG = Record({}, required=True)

NAMES = tuple(f"bench-noop-{index}" for index in range(10))


def noop_handler(index: int) -> type[PluginHandler]:
    """The handler class of ``bench-noop-<index>``."""

    class Handler(PluginHandler):
        name = NAMES[index]
        priority = 1000 + index
        version = "1.0"

        def access(self, ctx: ProxyContext, conf: PluginConfig) -> None:
            return None

        def header_filter(self, ctx: ProxyContext, conf: PluginConfig) -> None:
            return None

        def log(self, ctx: ProxyContext, conf: PluginConfig) -> None:
            return None

    return Handler
