"""Custom Admin API endpoints layered over the generic CRUD table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kongtx.admin.dispatch import Dispatcher

if TYPE_CHECKING:
    from kongtx.admin.app import AdminAPI

__all__ = ["install_specials"]


def install_specials(api: AdminAPI, router: Dispatcher) -> None:
    """Register every non-generic endpoint (later registrations win per verb)."""
    from kongtx.admin.routes import apis, config, info, schemas, tags, upstreams

    info.install(api, router)
    config.install(api, router)
    schemas.install(api, router)
    tags.install(api, router)
    upstreams.install(api, router)
    apis.install(api, router)
