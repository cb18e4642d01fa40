"""``/schemas`` endpoints: entity and plugin schemas, and dry-run validation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kongtx.admin.dispatch import Dispatcher
from kongtx.admin.errors import not_found
from kongtx.admin.request import AdminRequest, Response

if TYPE_CHECKING:
    from kongtx.admin.app import AdminAPI

__all__ = ["install"]

_OK = {"message": "schema validation successful"}


def _entity(api: AdminAPI, name: str) -> Any:
    try:
        return api.registry.get(name)
    except KeyError:
        raise not_found(f"No entity named '{name}'") from None


def plugin_schema_json(api: AdminAPI, name: str) -> dict[str, Any]:
    """The JSON schema of plugin ``name`` (404 ``No plugin named '<n>'``)."""
    return _plugin(api, name).to_schema_json()


def _plugin(api: AdminAPI, name: str) -> Any:
    try:
        return api.registry.plugin_schema(name)
    except KeyError:
        raise not_found(f"No plugin named '{name}'") from None


def install(api: AdminAPI, router: Dispatcher) -> None:
    """Register the ``/schemas`` endpoints."""

    async def entity_schema(req: AdminRequest, params: dict[str, str]) -> Response:
        return Response(200, _entity(api, params["name"]).to_schema_json())

    async def plugin_schema(req: AdminRequest, params: dict[str, str]) -> Response:
        return Response(200, plugin_schema_json(api, params["plugin"]))

    async def validate(ent: Any, req: AdminRequest) -> Response:
        data = await api.crud.write_input(req, ent)
        now = api.clock.seconds() if api.clock is not None else 0.0
        row = ent.fill_defaults(ent.process_input(data, "insert"), now)
        ent.validate(row)
        return Response(200, dict(_OK))

    async def entity_validate(req: AdminRequest, params: dict[str, str]) -> Response:
        return await validate(_entity(api, params["name"]), req)

    async def plugin_validate(req: AdminRequest, params: dict[str, str]) -> Response:
        return await validate(api.registry.get("plugins"), req)

    async def legacy_plugin_schema(req: AdminRequest, params: dict[str, str]) -> Response:
        return Response(200, _plugin(api, params["plugin"]).config_schema_json())

    router.add("/schemas/:name", {"GET": entity_schema})
    router.add("/schemas/:name/validate", {"POST": entity_validate})
    router.add("/schemas/plugins/:plugin", {"GET": plugin_schema})
    router.add("/schemas/plugins/validate", {"POST": plugin_validate})
    router.add("/plugins/schema/:plugin", {"GET": legacy_plugin_schema})
