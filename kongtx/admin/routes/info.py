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


def _rss_bytes() -> int:
    """This process's resident memory now (peak resident size where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


_UNITS = {"k": ("KiB", 2**10), "m": ("MiB", 2**20), "g": ("GiB", 2**30)}


def bytes_to_str(count: int, unit: str, scale: int) -> int | str:
    """Kong's memory figure: an int for unit ``b``, else ``"<n.nn> KiB|MiB|GiB"``.

    :raises ValueError: with Kong's message for a bad unit or scale.
    """
    u = unit.lower()
    if u == "b":
        return int(count)
    if u == "":
        return str(int(count))
    if scale < 0:
        raise ValueError("scale must be equal or greater than 0")
    if u not in _UNITS:
        raise ValueError(f"invalid unit '{unit}' (expected 'k/K', 'm/M', or 'g/G')")
    suffix, size = _UNITS[u]
    return f"{count / size:.{scale}f} {suffix}"


def _scale(raw: str | None) -> int:
    """``?scale=``: Kong's ``tonumber``, 2 when absent or not a number."""
    try:
        return int(float(raw)) if raw is not None else 2
    except ValueError:
        return 2


def memory_stats(unit: str = "m", scale: int = 2) -> dict[str, Any]:
    """``/status`` ``memory``: this process's resident memory, no shared dictionaries."""
    return {
        "workers_lua_vms": [
            {"http_allocated_gc": bytes_to_str(_rss_bytes(), unit, scale), "pid": os.getpid()}
        ],
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
        unit = req.arg("unit")
        if unit is None:
            unit = "m"
        scale = _scale(req.arg("scale"))
        try:
            memory = memory_stats(unit, scale)
        except ValueError as exc:
            return Response(400, {"message": str(exc)})
        try:
            await api.dao.ping()
            reachable = True
        except KongtxError:
            reachable = False
        body: dict[str, Any] = {"database": {"reachable": reachable}, "memory": memory}
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
