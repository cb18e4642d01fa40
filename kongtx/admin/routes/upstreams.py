"""Upstream extras: ``/targets/all`` and the health endpoints (delegated to ``api.health``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kongtx.admin.dispatch import Dispatcher
from kongtx.admin.errors import not_found
from kongtx.admin.request import AdminRequest, Response
from kongtx.proxy.balancer import UnknownAddress

if TYPE_CHECKING:
    from kongtx.admin.app import AdminAPI

__all__ = ["install"]


def install(api: AdminAPI, router: Dispatcher) -> None:
    """Register ``/upstreams/{u}/targets/all`` and the health endpoints."""

    async def upstream(params: dict[str, str]) -> dict[str, Any]:
        row = await api.crud.find(api.registry.get("upstreams"), params["upstreams"])
        if row is None:
            raise not_found()
        return row

    async def target(up: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        row = await api.crud.find(
            api.registry.get("targets"), params["targets"], ("upstream", up["id"])
        )
        if row is None or (row.get("upstream") or {}).get("id") != up["id"]:
            raise not_found()
        return row

    async def all_targets(req: AdminRequest, params: dict[str, str]) -> Response:
        up = await upstream(params)
        base = f"/upstreams/{params['upstreams']}/targets/all"
        return await api.crud.list_page(
            req, api.registry.get("targets"), base, foreign=("upstream", up["id"])
        )

    async def health(req: AdminRequest, params: dict[str, str]) -> Response:
        up = await upstream(params)
        if api.health is None:
            raise not_found()
        balancer = (req.arg("balancer_health") or "").lower() in ("1", "true", "yes")
        body = dict(api.health.health(up, balancer))
        body.setdefault("next", None)
        body.setdefault("node_id", api.node_id)
        return Response(200, body)

    def setter(healthy: bool, with_address: bool) -> Any:
        async def handler(req: AdminRequest, params: dict[str, str]) -> Response:
            up = await upstream(params)
            tgt = await target(up, params)
            if api.health is None:
                raise not_found()
            address = params["address"] if with_address else None
            try:
                api.health.set_health(up, tgt, address, healthy)
            except UnknownAddress:
                return Response(404, {"message": f"no such address: {address}"})
            return Response(204)

        return handler

    base = "/upstreams/:upstreams"
    router.add(f"{base}/targets/all", {"GET": all_targets})
    router.add(f"{base}/health", {"GET": health})
    for word, flag in (("healthy", True), ("unhealthy", False)):
        router.add(f"{base}/targets/:targets/{word}", {"PUT": setter(flag, False)})
        router.add(f"{base}/targets/:targets/:address/{word}", {"PUT": setter(flag, True)})
