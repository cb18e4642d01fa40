"""kongtx: a Kong-compatible API gateway on Twisted.

The embedding API (imported lazily, so ``import kongtx`` stays cheap)::

    from kongtx import build_gateway, load_config
    node = build_gateway(reactor, load_config("kongtx.conf"))
    node.startService()          # node.ready fires once the listeners are up
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"
KONG_COMPAT_VERSION = "3.9.1"

_LAZY = {
    "build_gateway": "kongtx.service",
    "GatewayNode": "kongtx.service",
    "load_config": "kongtx.config",
    "Config": "kongtx.config",
    "Gateway": "kongtx.proxy.gateway",
    "GatewayResource": "kongtx.proxy.resource",
    "GatewaySite": "kongtx.proxy.resource",
    "PluginHandler": "kongtx.plugins.base",
    "ProxyExit": "kongtx.errors",
    "KongtxError": "kongtx.errors",
}

__all__ = ["__version__", "KONG_COMPAT_VERSION", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kongtx' has no attribute {name!r}")
    return getattr(import_module(module), name)
