"""Generic CRUD endpoints generated from the schema registry (Kong's endpoints.lua)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from kongtx.admin.errors import AdminError, lua_literal, method_not_allowed, not_found
from kongtx.admin.paging import next_url, parse_size, parse_tags
from kongtx.admin.request import AdminRequest, Response
from kongtx.errors import ForeignKeysUnresolved, InvalidPrimaryKey

if TYPE_CHECKING:
    from kongtx.admin.app import AdminAPI

__all__ = ["Crud", "Endpoint", "is_uuid"]

Endpoint = Callable[[AdminRequest, dict[str, str]], Awaitable[Response]]


def is_uuid(value: Any) -> bool:
    """True for a canonical textual UUID."""
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _ref_id(row: dict[str, Any], field_name: str) -> str | None:
    ref = row.get(field_name)
    if isinstance(ref, dict):
        value = ref.get("id")
        return value if isinstance(value, str) else None
    return None


class Crud:
    """Builds the generic endpoint handlers for every registered entity."""

    def __init__(self, api: AdminAPI) -> None:
        self.api = api

    @property
    def dao(self) -> Any:
        return self.api.dao

    # -- lookups -----------------------------------------------------------

    async def find(
        self,
        ent: Any,
        ident: str,
        parent: tuple[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """Find a row by UUID or by the entity's endpoint key.

        :param parent: ``(field, parent_id)`` when addressed under a parent, for
            entities whose key is only unique per parent (targets, acls).
        """
        dao = self.dao
        if is_uuid(ident):
            return await dao.select(ent.name, ident)
        if ent.name == "certificates":
            return await self.api.certificate_by_sni(ident)
        if ent.name in ("targets", "acls"):
            if parent is None:
                return None
            key = "target" if ent.name == "targets" else "group"
            wanted = {ident}
            if ent.name == "targets" and ":" not in ident:
                wanted.add(ident + ":8000")  # Kong stores targets with the default port
            async for row in self.iterate(ent, foreign=parent):
                if row.get(key) in wanted:
                    return row
            return None
        if ent.endpoint_key:
            return await dao.select_by_key(ent.name, ident)
        if ent.name == "acls":  # addressed by group without its consumer: nothing to find
            return None
        # No other key: Kong's DAO refuses the id itself.
        fields = {ent.primary_key: "expected a valid UUID"}
        raise InvalidPrimaryKey(f"invalid primary key: '{lua_literal(fields)}'", fields)

    async def iterate(self, ent: Any, foreign: tuple[str, str] | None = None) -> Any:
        """Yield every row of ``ent`` (optionally children of one parent)."""
        offset = None
        while True:
            page = await self.dao.page(ent.name, size=1000, offset=offset, foreign=foreign)
            for row in page.rows:
                yield row
            offset = page.offset
            if offset is None:
                return

    async def write_input(
        self, req: AdminRequest, ent: Any, existing: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Decode, type-coerce and resolve foreign references of a write body.

        :param existing: the stored row on PATCH: form type inference of a
            subschema'd entity (plugins) needs the stored ``name``.
        """
        body = req.body()
        data = dict(body.data)
        if body.form:
            key = getattr(ent, "subschema_key", None)
            if key and existing is not None and key not in data and existing.get(key) is not None:
                data[key] = existing[key]
            data = ent.coerce_form(data)
        await self.resolve_foreign(ent, data)
        return data

    async def resolve_foreign(self, ent: Any, data: dict[str, Any]) -> None:
        """Replace ``{"service": {"name": "s1"}}`` style references by ids."""
        registry = self.api.registry
        for fname, foreign in ent.foreign_fields().items():
            ref = data.get(fname)
            if not isinstance(ref, dict) or not ref:
                continue
            ref_id = ref.get("id")
            if is_uuid(ref_id) and len(ref) == 1:
                continue
            parent = registry.get(foreign.reference)
            if ref_id is not None and not is_uuid(ref_id) and parent.endpoint_key:
                key, value = parent.endpoint_key, ref_id
            elif ref_id is None and len(ref) == 1:
                key, value = next(iter(ref.items()))
            else:
                continue  # let the schema report the malformed reference
            row = None
            if isinstance(value, str) and key in parent.unique_fields():
                row = await self.dao.select_by_field(parent.name, key, value)
            if row is None:
                msg = (
                    f"the foreign key cannot be resolved with '{lua_literal({key: value})}'"
                    f" for an existing '{parent.name}' entity"
                )
                raise ForeignKeysUnresolved(
                    f"foreign key unresolved ({fname}.{key}: {msg})", {fname: {key: msg}}
                )
            data[fname] = {"id": row["id"]}

    # -- endpoint generation -----------------------------------------------

    def endpoints(self, ent: Any) -> list[tuple[str, dict[str, Endpoint]]]:
        """Every generic ``(pattern, verbs)`` pair for one entity."""
        out: list[tuple[str, dict[str, Endpoint]]] = []
        path = ent.admin_path
        if not path:
            return out
        name = ent.name
        out.append((path, {"GET": self._list(ent), "POST": self._create(ent)}))
        out.append(
            (
                f"{path}/:{name}",
                {
                    "GET": self._get(ent),
                    "PUT": self._put(ent),
                    "PATCH": self._patch(ent),
                    "DELETE": self._delete(ent),
                },
            )
        )
        registry = self.api.registry
        for fname, foreign in ent.foreign_fields().items():
            try:
                parent = registry.get(foreign.reference)
            except KeyError:
                continue
            if not parent.admin_path:
                continue
            out.append(
                (
                    f"{path}/:{name}/{fname}",
                    {
                        "GET": self._parent_get(ent, fname, parent),
                        "PUT": self._parent_put(ent, fname, parent),
                        "PATCH": self._parent_patch(ent, fname, parent),
                        "DELETE": self._parent_delete(ent, fname),
                    },
                )
            )
            nested = ent.admin_nested_name or path.strip("/")
            base = f"{parent.admin_path}/:{parent.name}/{nested}"
            out.append(
                (
                    base,
                    {
                        "GET": self._nested_list(ent, fname, parent, nested),
                        "POST": self._nested_create(ent, fname, parent),
                    },
                )
            )
            out.append(
                (
                    f"{base}/:{name}",
                    {
                        "GET": self._nested_get(ent, fname, parent),
                        "PUT": self._nested_put(ent, fname, parent),
                        "PATCH": self._nested_patch(ent, fname, parent),
                        "DELETE": self._nested_delete(ent, fname, parent),
                    },
                )
            )
        return out

    # -- top level ------------------------------------------------------------

    async def list_page(
        self, req: AdminRequest, ent: Any, base: str, foreign: tuple[str, str] | None = None
    ) -> Response:
        """One page of a list, with ``offset`` and ``next`` as Kong builds them."""
        raw_size = req.arg("size")
        size = parse_size(raw_size)
        tags, cond, raw_tags = None, "and", None
        if foreign is None and "tags" in ent.fields:
            raw_tags_b = req.arg_bytes("tags")
            tags, cond = parse_tags(raw_tags_b)
            raw_tags = req.arg("tags")
        page = await self.dao.page(
            ent.name,
            size=size,
            offset=req.arg("offset"),
            tags=tags,
            tags_cond=cond,
            foreign=foreign,
        )
        body: dict[str, Any] = {"data": list(page.rows)}
        if page.offset is not None:
            body["offset"] = page.offset
        if foreign is None:
            body["next"] = next_url(base, page.offset, tags=raw_tags, size=raw_size)
        else:
            body["next"] = next_url(base, page.offset)
        return Response(200, body)

    def _list(self, ent: Any) -> Endpoint:
        async def handler(req: AdminRequest, params: dict[str, str]) -> Response:
            if ent.name == "consumers" and "custom_id" in req.query:
                custom_id = req.arg("custom_id")
                if not custom_id:
                    raise AdminError(400, {"message": "custom_id must be an unempty string"})
                row = await self.dao.select_by_field("consumers", "custom_id", custom_id)
                return Response(200, {"data": [row] if row else [], "next": None})
            return await self.list_page(req, ent, ent.admin_path)

        return handler

    def _create(self, ent: Any) -> Endpoint:
        async def handler(req: AdminRequest, params: dict[str, str]) -> Response:
            data = await self.write_input(req, ent)
            return Response(201, await self.dao.insert(ent.name, data))

        return handler

    def _get(self, ent: Any) -> Endpoint:
        async def handler(req: AdminRequest, params: dict[str, str]) -> Response:
            row = await self.find(ent, params[ent.name])
            if row is None:
                raise self.api.missing(ent, params[ent.name])
            return Response(200, row)

        return handler

    async def upsert(
        self, req: AdminRequest, ent: Any, ident: str, parent: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        """PUT semantics: replace the addressed row or create it (key injected)."""
        data = await self.write_input(req, ent)
        if parent is not None:
            data[parent[0]] = {"id": parent[1]}
        row = await self.find(ent, ident, parent)
        if is_uuid(ident):
            row_id = ident
        else:
            row_id = row["id"] if row is not None else str(uuid.uuid4())
            key = self.api.ident_field(ent)
            if key == "snis":
                snis = list(data.get("snis") or [])
                if ident not in snis:
                    snis.append(ident)
                data["snis"] = snis
            elif key is not None:
                data[key] = ident
        return await self.dao.upsert(ent.name, row_id, data)

    def _put(self, ent: Any) -> Endpoint:
        async def handler(req: AdminRequest, params: dict[str, str]) -> Response:
            return Response(200, await self.upsert(req, ent, params[ent.name]))

        return handler

    def _patch(self, ent: Any) -> Endpoint:
        async def handler(req: AdminRequest, params: dict[str, str]) -> Response:
            row = await self.find(ent, params[ent.name])
            if row is None:
                raise self.api.missing(ent, params[ent.name])
            data = await self.write_input(req, ent, row)
            return Response(200, await self.dao.update(ent.name, row["id"], data))

        return handler

    def _delete(self, ent: Any) -> Endpoint:
        async def handler(req: AdminRequest, params: dict[str, str]) -> Response:
            ident = params[ent.name]
            row = await self.find(ent, ident)
            if row is not None:
                await self.dao.delete(ent.name, row["id"])
            elif ent.name == "certificates" and not is_uuid(ident):
                raise not_found("SNI not found")
            return Response(204)

        return handler

    # -- /E/{id}/F: the parent of a child ---------------------------------------

    async def _child_and_ref(
        self, ent: Any, fname: str, ident: str
    ) -> tuple[dict[str, Any], str | None]:
        child = await self.find(ent, ident)
        if child is None:
            raise not_found()
        return child, _ref_id(child, fname)

    def _parent_get(self, ent: Any, fname: str, parent: Any) -> Endpoint:
        async def handler(req: AdminRequest, params: dict[str, str]) -> Response:
            _, ref = await self._child_and_ref(ent, fname, params[ent.name])
            row = await self.dao.select(parent.name, ref) if ref else None
            if row is None:
                raise not_found()
            return Response(200, row)

        return handler

    def _parent_patch(self, ent: Any, fname: str, parent: Any) -> Endpoint:
        async def handler(req: AdminRequest, params: dict[str, str]) -> Response:
            _, ref = await self._child_and_ref(ent, fname, params[ent.name])
            if ref is None or await self.dao.select(parent.name, ref) is None:
                raise not_found()
            data = await self.write_input(req, parent)
            return Response(200, await self.dao.update(parent.name, ref, data))

        return handler

    def _parent_put(self, ent: Any, fname: str, parent: Any) -> Endpoint:
        async def handler(req: AdminRequest, params: dict[str, str]) -> Response:
            child, ref = await self._child_and_ref(ent, fname, params[ent.name])
            associate = ref is None
            parent_id = ref or str(uuid.uuid4())
            data = await self.write_input(req, parent)
            row = await self.dao.upsert(parent.name, parent_id, data)
            if associate:
                await self.dao.update(ent.name, child["id"], {fname: {"id": row["id"]}})
            return Response(200, row)

        return handler

    def _parent_delete(self, ent: Any, fname: str) -> Endpoint:
        async def handler(req: AdminRequest, params: dict[str, str]) -> Response:
            _, ref = await self._child_and_ref(ent, fname, params[ent.name])
            if ref is None:
                raise not_found()
            raise method_not_allowed()

        return handler

    # -- /P/{pid}/E[/{id}]: children of a parent ---------------------------------

    async def _parent_row(self, parent: Any, params: dict[str, str]) -> dict[str, Any]:
        row = await self.find(parent, params[parent.name])
        if row is None:
            raise not_found()
        return row

    def _nested_list(self, ent: Any, fname: str, parent: Any, nested: str) -> Endpoint:
        async def handler(req: AdminRequest, params: dict[str, str]) -> Response:
            prow = await self._parent_row(parent, params)
            base = f"{parent.admin_path}/{params[parent.name]}/{nested}"
            return await self.list_page(req, ent, base, foreign=(fname, prow["id"]))

        return handler

    def _nested_create(self, ent: Any, fname: str, parent: Any) -> Endpoint:
        async def handler(req: AdminRequest, params: dict[str, str]) -> Response:
            prow = await self._parent_row(parent, params)
            data = await self.write_input(req, ent)
            data[fname] = {"id": prow["id"]}
            return Response(201, await self.dao.insert(ent.name, data))

        return handler

    async def _owned_child(
        self, ent: Any, fname: str, parent: Any, params: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        prow = await self._parent_row(parent, params)
        child = await self.find(ent, params[ent.name], (fname, prow["id"]))
        if child is None or _ref_id(child, fname) != prow["id"]:
            raise not_found()
        return prow, child

    def _nested_get(self, ent: Any, fname: str, parent: Any) -> Endpoint:
        async def handler(req: AdminRequest, params: dict[str, str]) -> Response:
            _, child = await self._owned_child(ent, fname, parent, params)
            return Response(200, child)

        return handler

    def _nested_put(self, ent: Any, fname: str, parent: Any) -> Endpoint:
        async def handler(req: AdminRequest, params: dict[str, str]) -> Response:
            prow = await self._parent_row(parent, params)
            row = await self.upsert(req, ent, params[ent.name], (fname, prow["id"]))
            return Response(200, row)

        return handler

    def _nested_patch(self, ent: Any, fname: str, parent: Any) -> Endpoint:
        async def handler(req: AdminRequest, params: dict[str, str]) -> Response:
            prow, child = await self._owned_child(ent, fname, parent, params)
            data = await self.write_input(req, ent, child)
            data.setdefault(fname, {"id": prow["id"]})
            return Response(200, await self.dao.update(ent.name, child["id"], data))

        return handler

    def _nested_delete(self, ent: Any, fname: str, parent: Any) -> Endpoint:
        async def handler(req: AdminRequest, params: dict[str, str]) -> Response:
            _, child = await self._owned_child(ent, fname, parent, params)
            await self.dao.delete(ent.name, child["id"])
            return Response(204)

        return handler
