"""Legacy Kong 0.9–0.14 ``/apis`` endpoints, mapped onto services and routes.

Each API is stored as a service (id = API id) plus a route (see
:mod:`kongtx.admin.routes.apis_model` for the layout), so the proxy routes
it from the ordinary snapshot.  0.x conventions apply here only: flat error
objects, ``total`` in lists, 404 when deleting a missing API, ``created_at``
in milliseconds.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import TYPE_CHECKING, Any

from kongtx.admin.crud import is_uuid
from kongtx.admin.dispatch import Dispatcher
from kongtx.admin.errors import AdminError, not_found
from kongtx.admin.paging import escape_uri
from kongtx.admin.request import AdminRequest, Response
from kongtx.admin.routes.apis_model import (
    API_TAG,
    LegacyInvalid,
    api_https_only,
    coerce_form_api,
    from_service_route,
    generation,
    route_id_for,
    to_service_route,
    validate_api,
)
from kongtx.admin.routes.apis_ssl import (
    api_hosts,
    certificate_input,
    ssl_error,
    ssl_options,
    ssl_plugin_view,
    ssl_tag,
    validate_ssl_config,
)
from kongtx.errors import KongtxError, NotFound, SchemaViolation, UniqueViolation
from kongtx.store.dao import TxWrites

if TYPE_CHECKING:
    from kongtx.admin.app import AdminAPI

__all__ = ["LegacyApis", "flatten_fields", "install"]

_ROUTE_TO_API = {"hosts": "hosts", "paths": "uris", "methods": "methods", "strip_path": "strip_uri"}
_SERVICE_TO_API = {
    "host": "upstream_url",
    "port": "upstream_url",
    "path": "upstream_url",
    "protocol": "upstream_url",
    "url": "upstream_url",
    "retries": "retries",
    "connect_timeout": "upstream_connect_timeout",
    "write_timeout": "upstream_send_timeout",
    "read_timeout": "upstream_read_timeout",
}


def flatten_fields(fields: Any, prefix: str = "") -> dict[str, str]:
    """Flatten a 3.x ``fields`` tree into 0.x ``{"a.b": "msg"}`` pairs."""
    out: dict[str, str] = {}
    if isinstance(fields, dict):
        for key, value in fields.items():
            name = "message" if key == "@entity" else f"{prefix}{key}"
            if isinstance(value, (dict, list)) and key != "@entity":
                out.update(flatten_fields(value, name + "."))
            elif key == "@entity":
                out["message"] = (
                    "; ".join(str(v) for v in value) if isinstance(value, list) else str(value)
                )
            else:
                out[name] = str(value)
    elif isinstance(fields, list):
        for _i, value in enumerate(fields):
            if value is not None:
                out.update(
                    flatten_fields(value, prefix)
                    if isinstance(value, (dict, list))
                    else {prefix.rstrip(".") or "message": str(value)}
                )
    return out


def _legacy_error(err: KongtxError, mapping: dict[str, str], gen: str) -> AdminError:
    if isinstance(err, UniqueViolation):
        fields = err.fields if isinstance(err.fields, dict) else {}
        taken = {k: f"already exists with value '{v}'" for k, v in fields.items()}
        return AdminError(409, taken or {"message": err.message})
    if isinstance(err, SchemaViolation):
        flat = flatten_fields(err.fields)
        out: dict[str, str] = {}
        for key, msg in flat.items():
            head = key.partition(".")[0]
            name = mapping.get(head, head)
            if gen == "09":
                name = {
                    "hosts": "request_host",
                    "uris": "request_path",
                    "strip_uri": "strip_request_path",
                }.get(name, name)
            out[name] = msg
        return AdminError(400, out or {"message": err.message})
    if isinstance(err, NotFound):
        return not_found()
    return AdminError(err.http_status, err.to_body())


def _plugin_view(row: dict[str, Any], api_id: str) -> dict[str, Any]:
    consumer = row.get("consumer") or {}
    out = {
        "id": row["id"],
        "name": row["name"],
        "api_id": api_id,
        "consumer_id": consumer.get("id"),
        "config": row.get("config"),
        "enabled": row.get("enabled", True),
        "created_at": int(row.get("created_at") or 0) * 1000,
    }
    return {k: v for k, v in out.items() if v is not None}


class LegacyApis:
    """The ``/apis`` and ``/apis/{api}/plugins`` endpoints of one Admin API."""

    def __init__(self, api: AdminAPI) -> None:
        self.api = api
        self.dao = api.dao

    def _now_ms(self) -> int | None:
        # Without a clock the DAO's created_at (seconds) is reported * 1000.
        return int(self.api.clock.seconds() * 1000) if self.api.clock is not None else None

    def _legacy_input(self, req: AdminRequest) -> dict[str, Any]:
        body = req.body()
        return coerce_form_api(body.data) if body.form else dict(body.data)

    async def _load(self, ident: str) -> dict[str, Any] | None:
        if is_uuid(ident):
            service = await self.dao.select("services", ident)
        else:
            service = await self.dao.select_by_key("services", ident)
        if service is None or API_TAG not in (service.get("tags") or []):
            return None
        return service

    async def _represent(self, service: dict[str, Any]) -> dict[str, Any]:
        route = await self.dao.select("routes", route_id_for(service["id"]))
        return from_service_route(service, route)

    async def _store(
        self, data: dict[str, Any], api_id: str, created_ms: int | None, existing: bool
    ) -> dict[str, Any]:
        gen = generation(data)
        try:
            valid = validate_api(data, gen)
        except LegacyInvalid as exc:
            raise AdminError(exc.status, exc.body) from None
        if gen == "09":
            await self._check_unique_09(valid, api_id)
        service_in, route_in = to_service_route(valid, gen, api_id, created_ms)
        rid = route_id_for(api_id)
        ssl = await self._ssl_plugin_of(api_id)
        if ssl is not None and ssl_options(ssl)[0]:
            route_in["protocols"] = ["https"]  # the ssl plugin's only_https

        async def write(w: TxWrites) -> dict[str, Any]:
            try:
                service = await w.upsert("services", api_id, service_in)
            except KongtxError as err:
                raise _legacy_error(err, _SERVICE_TO_API, gen) from None
            try:
                route = await w.upsert("routes", rid, route_in)
            except KongtxError as err:
                raise _legacy_error(err, _ROUTE_TO_API, gen) from None
            return from_service_route(service, route)

        # service and route are written together or not at all
        result: dict[str, Any] = await self.dao.transaction(write)
        return result

    # -- the 0.x ssl plugin (kongtx.admin.routes.apis_ssl) -----------------------

    async def _ssl_plugin_of(self, api_id: str) -> dict[str, Any] | None:
        page = await self.dao.page("certificates", size=1, tags=[ssl_tag(api_id)], tags_cond="and")
        return page.rows[0] if page.rows else None

    @staticmethod
    async def _set_https_only(w: TxWrites, service: dict[str, Any], only_https: bool) -> None:
        """Route protocols: https only for the ssl plugin's only_https or the API's https_only."""
        https = only_https or api_https_only(service)
        protocols = ["https"] if https else ["http", "https"]
        await w.update("routes", route_id_for(service["id"]), {"protocols": protocols})

    async def _ssl_write(
        self, service: dict[str, Any], config: Any, existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        try:
            valid = validate_ssl_config(config)
        except LegacyInvalid as exc:
            raise AdminError(exc.status, exc.body) from None
        hosts = api_hosts(await self._represent(service))
        cert_in = certificate_input(service["id"], hosts, valid)

        async def write(w: TxWrites) -> dict[str, Any]:
            try:
                if existing is None:
                    row = await w.insert("certificates", cert_in)
                else:
                    row = await w.update("certificates", existing["id"], cert_in)
            except KongtxError as err:
                status, body = ssl_error(err)
                raise AdminError(status, body) from None
            await self._set_https_only(w, service, valid["only_https"])
            return row

        result: dict[str, Any] = await self.dao.transaction(write)
        return result

    async def _ssl_of(self, params: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The API and, if ``params["plugins"]`` names it, its ssl plugin certificate."""
        service = await self._load(params["apis"])
        if service is None:
            raise not_found()
        ssl = await self._ssl_plugin_of(service["id"])
        return service, ssl if ssl is not None and ssl["id"] == params["plugins"] else None

    async def _check_unique_09(self, api: dict[str, Any], api_id: str) -> None:
        """0.9's unique ``request_host`` and ``request_path`` (409 as 0.9 answered it)."""
        conflicts: dict[str, str] = {}
        for other in await self._all_apis():
            if other["id"] == api_id:
                continue
            for key in ("request_host", "request_path"):
                value = api.get(key)
                if value is not None and other.get(key) == value:
                    conflicts[key] = f"already exists with value '{value}'"
        if conflicts:
            raise AdminError(409, conflicts)

    async def _all_apis(self) -> list[dict[str, Any]]:
        services = self.api.registry.get("services")
        rows = []
        offset = None
        while True:
            page = await self.dao.page(
                services.name, size=1000, offset=offset, tags=[API_TAG], tags_cond="and"
            )
            rows.extend(page.rows)
            offset = page.offset
            if offset is None:
                break
        rows.sort(key=lambda r: r["id"])
        return [await self._represent(r) for r in rows]

    async def list_apis(self, req: AdminRequest, params: dict[str, str]) -> Response:
        raw_size = req.arg("size") or "100"
        try:
            size = int(raw_size)
        except ValueError:
            raise AdminError(400, {"size": "size is not a number"}) from None
        items = await self._all_apis()
        for key, values in req.query.items():
            if key in ("size", "offset"):
                continue
            wanted = values[0].decode("utf-8", "replace")
            items = [
                a
                for a in items
                if str(a.get(key)).lower() == wanted.lower()
                or (isinstance(a.get(key), bool) and str(a[key]).lower() == wanted)
            ]
        start = 0
        token = req.arg("offset")
        if token:
            try:
                after = base64.b64decode(token, validate=True).decode()
            except (binascii.Error, ValueError):
                raise AdminError(400, {"message": "offset is not valid"}) from None
            start = next((i for i, a in enumerate(items) if a["id"] > after), len(items))
        page = items[start : start + size]
        body: dict[str, Any] = {"data": page, "total": len(items)}
        if start + size < len(items):
            next_token = base64.b64encode(page[-1]["id"].encode()).decode()
            host = req.request.getHeader("host") or "localhost:8001"
            body["offset"] = next_token
            body["next"] = f"http://{host}/apis/?offset={escape_uri(next_token)}&size={size}"
        return Response(200, body)

    async def create(self, req: AdminRequest, params: dict[str, str]) -> Response:
        data = self._legacy_input(req)
        api_id = data.pop("id", None) or str(uuid.uuid4())
        data.pop("created_at", None)
        if await self.dao.select("services", api_id) is not None:
            raise AdminError(409, {"id": f"already exists with value '{api_id}'"})
        return Response(201, await self._store(data, api_id, self._now_ms(), existing=False))

    async def put(self, req: AdminRequest, params: dict[str, str]) -> Response:
        data = self._legacy_input(req)
        api_id = data.pop("id", None)
        existing = await self._load(api_id) if isinstance(api_id, str) else None
        if existing is None:
            data.pop("created_at", None)
            return Response(
                201,
                await self._store(
                    data, api_id or str(uuid.uuid4()), self._now_ms(), existing=False
                ),
            )
        created = data.pop("created_at", None) or from_service_route(existing, None)["created_at"]
        return Response(200, await self._store(data, existing["id"], created, existing=True))

    async def get_one(self, req: AdminRequest, params: dict[str, str]) -> Response:
        service = await self._load(params["apis"])
        if service is None:
            raise not_found()
        return Response(200, await self._represent(service))

    async def patch(self, req: AdminRequest, params: dict[str, str]) -> Response:
        service = await self._load(params["apis"])
        if service is None:
            raise not_found()
        patch_data = self._legacy_input(req)
        if not patch_data:
            raise AdminError(400, {"message": "empty body"})
        current = await self._represent(service)
        merged = {k: v for k, v in current.items() if k not in ("id", "created_at")}
        merged.update(patch_data)
        merged = {k: v for k, v in merged.items() if v is not None}
        return Response(
            200, await self._store(merged, service["id"], current["created_at"], existing=True)
        )

    async def delete(self, req: AdminRequest, params: dict[str, str]) -> Response:
        service = await self._load(params["apis"])
        if service is None:
            raise not_found()
        ssl = await self._ssl_plugin_of(service["id"])

        async def remove(w: TxWrites) -> None:
            if ssl is not None:
                await w.delete("certificates", ssl["id"])
            await w.delete("routes", route_id_for(service["id"]))
            await w.delete("services", service["id"])

        await self.dao.transaction(remove)
        return Response(204)

    # -- /apis/{api}/plugins --------------------------------------------------

    def _plugin_input(
        self, req: AdminRequest, existing: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        plugins = self.api.registry.get("plugins")
        body = req.body()
        data = dict(body.data)
        if body.form:
            if existing is not None and "name" not in data:
                data["name"] = existing["name"]  # config type inference needs the plugin name
            data = plugins.coerce_form(data)
        consumer_id = data.pop("consumer_id", None)
        if consumer_id:
            data["consumer"] = {"id": consumer_id}
        data.pop("api_id", None)
        return data

    async def _api_plugin(self, params: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
        service = await self._load(params["apis"])
        if service is None:
            raise not_found()
        row = (
            await self.dao.select("plugins", params["plugins"])
            if is_uuid(params["plugins"])
            else None
        )
        if row is None or (row.get("route") or {}).get("id") != route_id_for(service["id"]):
            raise not_found()
        return service, row

    async def plugins_list(self, req: AdminRequest, params: dict[str, str]) -> Response:
        service = await self._load(params["apis"])
        if service is None:
            raise not_found()
        rows = [
            _plugin_view(r, service["id"])
            async for r in self.api.crud.iterate(
                self.api.registry.get("plugins"), foreign=("route", route_id_for(service["id"]))
            )
        ]
        ssl = await self._ssl_plugin_of(service["id"])
        if ssl is not None:
            rows.insert(0, ssl_plugin_view(ssl, service["id"]))
        return Response(200, {"data": rows, "total": len(rows)})

    async def plugins_create(self, req: AdminRequest, params: dict[str, str]) -> Response:
        service = await self._load(params["apis"])
        if service is None:
            raise not_found()
        raw = req.body().data
        if raw.get("name") == "ssl":  # the 0.x plugin: a certificate for the API's hosts
            if await self._ssl_plugin_of(service["id"]) is not None:
                raise AdminError(409, {"name": "already exists with value 'ssl'"})
            row = await self._ssl_write(service, raw.get("config"), None)
            return Response(201, ssl_plugin_view(row, service["id"]))
        data = self._plugin_input(req)
        data["route"] = {"id": route_id_for(service["id"])}
        try:
            if "id" in data and isinstance(data["id"], str) and req.method == "PUT":
                row = await self.dao.upsert("plugins", data.pop("id"), data)
            else:
                row = await self.dao.insert("plugins", data)
        except KongtxError as err:
            raise _legacy_error(err, {}, "10") from None
        return Response(201, _plugin_view(row, service["id"]))

    async def plugin_get(self, req: AdminRequest, params: dict[str, str]) -> Response:
        service, ssl = await self._ssl_of(params)
        if ssl is not None:
            return Response(200, ssl_plugin_view(ssl, service["id"]))
        service, row = await self._api_plugin(params)
        return Response(200, _plugin_view(row, service["id"]))

    async def plugin_patch(self, req: AdminRequest, params: dict[str, str]) -> Response:
        service, ssl = await self._ssl_of(params)
        if ssl is not None:
            config = dict(ssl_plugin_view(ssl, service["id"])["config"])
            patch_config = req.body().data.get("config")
            if isinstance(patch_config, dict):
                config.update(patch_config)
            row = await self._ssl_write(service, config, ssl)
            return Response(200, ssl_plugin_view(row, service["id"]))
        service, row = await self._api_plugin(params)
        try:
            updated = await self.dao.update("plugins", row["id"], self._plugin_input(req, row))
        except KongtxError as err:
            raise _legacy_error(err, {}, "10") from None
        return Response(200, _plugin_view(updated, service["id"]))

    async def plugin_delete(self, req: AdminRequest, params: dict[str, str]) -> Response:
        service, ssl = await self._ssl_of(params)
        if ssl is not None:
            found = ssl

            async def remove(w: TxWrites) -> None:
                await w.delete("certificates", found["id"])
                await self._set_https_only(w, service, False)

            await self.dao.transaction(remove)
            return Response(204)
        _, row = await self._api_plugin(params)
        await self.dao.delete("plugins", row["id"])
        return Response(204)


def install(api: AdminAPI, router: Dispatcher) -> None:
    """Register ``/apis`` and ``/apis/{api}/plugins`` endpoints."""
    apis = LegacyApis(api)
    router.add("/apis", {"GET": apis.list_apis, "POST": apis.create, "PUT": apis.put})
    router.add("/apis/:apis", {"GET": apis.get_one, "PATCH": apis.patch, "DELETE": apis.delete})
    router.add(
        "/apis/:apis/plugins",
        {"GET": apis.plugins_list, "POST": apis.plugins_create, "PUT": apis.plugins_create},
    )
    router.add(
        "/apis/:apis/plugins/:plugins",
        {"GET": apis.plugin_get, "PATCH": apis.plugin_patch, "DELETE": apis.plugin_delete},
    )
