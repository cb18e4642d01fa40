"""Node information endpoints: ``/``, ``/status``, ``/endpoints``, ``/plugins/enabled``."""

from __future__ import annotations

import os
import resource
import socket
from typing import TYPE_CHECKING, Any

import kongtx
from kongtx.admin.dispatch import Dispatcher
from kongtx.admin.errors import not_found
from kongtx.admin.request import AdminRequest, Response
from kongtx.errors import KongtxError

if TYPE_CHECKING:
    from kongtx.admin.app import AdminAPI

__all__ = ["disabled", "install"]


async def disabled(req: AdminRequest, params: dict[str, str]) -> Response:
    """Answer 404 for an endpoint Kong deactivates (any verb)."""
    raise not_found()


def _configuration(api: AdminAPI) -> dict[str, Any]:
    if api.config is None:
        return {}
    as_dict = getattr(api.config, "as_dict", None)
    return as_dict(redact=True) if as_dict is not None else {}


def _memory() -> dict[str, Any]:
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "workers_lua_vms": [{"pid": os.getpid(), "http_allocated_gc": f"{rss_kib / 1024:.2f} MiB"}],
        "lua_shared_dicts": {},
    }


def install(api: AdminAPI, router: Dispatcher) -> None:
    """Register the node information endpoints."""

    async def root(req: AdminRequest, params: dict[str, str]) -> Response:
        enabled: set[str] = set()
        plugins = api.registry.get("plugins")
        async for row in api.crud.iterate(plugins):
            enabled.add(row["name"])
        pid = os.getpid()
        return Response(
            200,
            {
                "tagline": "Welcome to kongtx",
                "version": kongtx.KONG_COMPAT_VERSION,
                "kongtx_version": kongtx.__version__,
                "edition": "community",
                "hostname": socket.gethostname(),
                "node_id": api.node_id,
                "lua_version": "kongtx (Python)",
                "timers": {"running": 0, "pending": 0},
                "plugins": {
                    "available_on_server": api.plugins_available,
                    "enabled_in_cluster": sorted(enabled),
                },
                "configuration": _configuration(api),
                "pids": {"master": pid, "workers": [pid]},
            },
        )

    async def status(req: AdminRequest, params: dict[str, str]) -> Response:
        try:
            await api.dao.ping()
            reachable = True
        except KongtxError:
            reachable = False
        body: dict[str, Any] = {"database": {"reachable": reachable}, "memory": _memory()}
        if api.server_stats is not None:
            body["server"] = dict(api.server_stats())
        if api.declarative is not None:  # DB-less: which configuration is served
            body["configuration_hash"] = api.declarative.hash
        return Response(200, body)

    async def endpoints(req: AdminRequest, params: dict[str, str]) -> Response:
        return Response(200, {"data": api.endpoint_list()})

    async def enabled_plugins(req: AdminRequest, params: dict[str, str]) -> Response:
        names = api.plugins_available or api.registry.enabled_plugins()
        return Response(200, {"enabled_plugins": sorted(names)})

    router.add("/", {"GET": root})
    router.add("/status", {"GET": status})
    router.add("/endpoints", {"GET": endpoints})
    router.add("/plugins/enabled", {"GET": enabled_plugins})
    router.add("/snis/:snis/certificate", {"*": disabled})
    router.add("/targets", {"*": disabled})
    router.add("/targets/:targets", {"*": disabled})
    router.add("/targets/:targets/upstream", {"*": disabled})
