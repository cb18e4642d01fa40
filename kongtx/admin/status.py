"""Kong's Status API (``status_listen``): ``/status``, ``/status/ready`` and plugins' status
endpoints (prometheus's ``/metrics``), nothing that reads or writes the configuration."""

from __future__ import annotations

from typing import Any

from kongtx.admin.app import AdminAPI
from kongtx.admin.dispatch import Dispatcher
from kongtx.admin.errors import AdminError
from kongtx.admin.guard import AdminGuard
from kongtx.admin.request import AdminRequest, Response

__all__ = ["StatusAPI"]


class StatusAPI(AdminAPI):
    """An :class:`AdminAPI` whose table holds only the Status API's endpoints.

    :param ready: returns whether the node serves (for ``/status/ready``).
    """

    def __init__(self, *args: Any, ready: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ready = ready
        # Host names are those of the Status API's own listeners (scrapers reach it by them).
        self.guard = AdminGuard(self.config, getattr(self.config, "status_listen", None) or [])

    def router(self) -> Dispatcher:
        if self._router is None:
            from kongtx.admin.routes import info

            admin = Dispatcher()
            info.install(self, admin)
            found = admin.match(["status"])
            assert found is not None
            router = Dispatcher()
            router.add("/status", found[1])
            router.add("/status/ready", {"GET": self._status_ready})
            for extend in self.extensions:
                extend(self, router)
            self._router = router
        return self._router

    async def _status_ready(self, req: AdminRequest, params: dict[str, str]) -> Response:
        if self._ready is not None and self._ready():
            return Response(200, {"message": "ready"})
        raise AdminError(503, {"message": "not ready"})
