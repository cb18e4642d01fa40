"""Kong's proxy-cache Admin API endpoints (``kong/plugins/proxy-cache/api.lua``).

* ``GET|DELETE /proxy-cache/{plugin_id}/caches/{cache_key}``: one entry of a plugin's store;
* ``GET|DELETE /proxy-cache/{cache_key}``: the entry in whichever store has it;
* ``DELETE /proxy-cache``: empty every store.

They act on the memory stores of the process serving the Admin API (worker 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kongtx.admin.request import AdminRequest, Response
from kongtx.schema.fields import is_uuid

if TYPE_CHECKING:
    from kongtx.plugins.proxy_cache.handler import ProxyCacheHandler

__all__ = ["install"]

_NOT_FOUND = {"message": "Not found"}


def install(handler: ProxyCacheHandler, admin: Any, router: Any) -> None:
    """Register the endpoints on the Admin API's router."""

    async def plugin_store(plugin_id: str) -> Any:
        if not is_uuid(plugin_id):
            return None
        row = await admin.dao.select("plugins", plugin_id)
        if row is None or row.get("name") != handler.name:
            return None
        memory = (row.get("config") or {}).get("memory") or {}
        return handler.store(memory.get("dictionary_name") or "kong_db_cache")

    async def get_entry(req: AdminRequest, params: dict[str, str]) -> Response:
        store = await plugin_store(params["id"])
        entry = store.fetch(params["cache_key"]) if store is not None else None
        if entry is None:
            return Response(404, _NOT_FOUND)
        return Response(200, entry.to_json())

    async def delete_entry(req: AdminRequest, params: dict[str, str]) -> Response:
        store = await plugin_store(params["id"])
        if store is None or not store.purge(params["cache_key"]):
            return Response(404, _NOT_FOUND)
        handler.broadcast_purge(params["cache_key"])
        return Response(204)

    async def find_entry(req: AdminRequest, params: dict[str, str]) -> Response:
        for store in handler.stores.values():
            entry = store.fetch(params["id"])
            if entry is not None:
                return Response(200, entry.to_json())
        return Response(404, _NOT_FOUND)

    async def delete_found(req: AdminRequest, params: dict[str, str]) -> Response:
        purged = [store.purge(params["id"]) for store in handler.stores.values()]
        if not any(purged):
            return Response(404, _NOT_FOUND)
        handler.broadcast_purge(params["id"])
        return Response(204)

    async def flush(req: AdminRequest, params: dict[str, str]) -> Response:
        for store in handler.stores.values():
            store.flush()
        handler.broadcast_purge(None)
        return Response(204)

    router.add("/proxy-cache", {"DELETE": flush})
    # One parameter name per position (the router shares it): ``id`` is a cache key
    # in the first pattern and a plugin id in the second.
    router.add("/proxy-cache/:id", {"GET": find_entry, "DELETE": delete_found})
    router.add("/proxy-cache/:id/caches/:cache_key", {"GET": get_entry, "DELETE": delete_entry})
