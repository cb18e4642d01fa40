"""Kong's entity cache endpoints (``kong/api/routes/cache.lua``).

* ``GET /cache/{key}``: the value cached under a cache key (e.g.
  ``keyauth_credentials:<key>:::::``): 200 with it (an empty body for a cached
  miss), 404 ``{"message": "Not found"}`` when nothing is cached;
* ``DELETE /cache/{key}``: forget that key in the process serving the Admin API
  (Kong's ``invalidate_local``): 204;
* ``DELETE /cache``: empty the entity cache of every worker process of the node: 204.
"""

from __future__ import annotations

from typing import Any

from kongtx.admin.request import AdminRequest, Response
from kongtx.cache import Entities

__all__ = ["PURGE_TOPIC", "install"]

#: NodeBus topic that empties the entity cache of every worker process.
PURGE_TOPIC = "entity-cache-purge"


def install(entities: Entities, bus: Any, admin: Any, router: Any) -> None:
    """Register ``/cache`` on the Admin API's router (``bus``: the node's NodeBus)."""
    cache = entities.cache

    async def get_entry(req: AdminRequest, params: dict[str, str]) -> Response:
        found, value = cache.peek(params["key"])
        if not found:
            return Response(404, {"message": "Not found"})
        return Response(200, value)

    async def delete_entry(req: AdminRequest, params: dict[str, str]) -> Response:
        cache.invalidate(params["key"])
        return Response(204)

    async def purge(req: AdminRequest, params: dict[str, str]) -> Response:
        cache.purge()
        bus.publish(PURGE_TOPIC, None)
        return Response(204)

    router.add("/cache", {"DELETE": purge})
    router.add("/cache/:key", {"GET": get_entry, "DELETE": delete_entry})
