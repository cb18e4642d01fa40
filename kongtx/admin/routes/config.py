"""``/config``: DB-less mode's whole-configuration endpoint (Kong's ``kong/api/routes/config.lua``).

``POST`` replaces everything at once: a JSON document, or ``config=<YAML or
JSON text>`` (JSON or form body); ``?check_hash=1`` answers 304 when nothing
changed; ``?flatten_errors=1`` adds Kong's ``flattened_errors``. ``GET``
answers the current configuration as YAML. With a database both answer 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kongtx.admin.dispatch import Dispatcher
from kongtx.admin.errors import AdminError
from kongtx.admin.request import AdminRequest, Response
from kongtx.declarative import json_bytes
from kongtx.errors import InvalidDeclarativeConfig
from kongtx.heap import Pause, collection_paused

if TYPE_CHECKING:
    from kongtx.admin.app import AdminAPI

__all__ = ["install"]

_ONLY_DBLESS = {
    "message": "this endpoint is only available when Kong is configured to not use a database"
}
_FLAGS = ("check_hash", "flatten_errors")


def _flag(req: AdminRequest, data: dict[str, Any], name: str) -> bool:
    value = req.arg(name)
    if value is None:
        value = data.get(name)
    return str(value).lower() in ("1", "true")


def _error_body(exc: InvalidDeclarativeConfig, source: Any, api: AdminAPI) -> dict[str, Any]:
    from kongtx.declarative import decode, flatten, lua_compact

    document = source
    if not isinstance(source, dict):
        try:
            document = decode(source)
        except InvalidDeclarativeConfig:
            document = None
    rest, flat = flatten(exc.fields if isinstance(exc.fields, dict) else {}, document, api.registry)
    body = exc.to_body()
    body.update(
        message="declarative config is invalid: " + lua_compact(rest),
        fields=rest,
        flattened_errors=flat,
    )
    return body


def install(api: AdminAPI, router: Dispatcher) -> None:
    """Register ``/config``."""

    async def get_config(req: AdminRequest, params: dict[str, str]) -> Response:
        from kongtx.declarative import dump_yaml, export_document

        if api.declarative is None:
            raise AdminError(400, _ONLY_DBLESS)
        rows = await api.dao.load_all()
        return Response(200, {"config": dump_yaml(export_document(rows, api.registry))})

    async def post_config(req: AdminRequest, params: dict[str, str]) -> Response:
        state = api.declarative
        if state is None:
            raise AdminError(400, _ONLY_DBLESS)
        data = dict(req.body().data)
        check_hash = _flag(req, data, "check_hash")
        flatten_errors = _flag(req, data, "flatten_errors")
        for name in _FLAGS:
            data.pop(name, None)
        source: Any = data if "_format_version" in data else data.get("config")
        if source is None or source == "":
            raise AdminError(400, {"message": "expected a declarative configuration"})
        with collection_paused() as pause:  # full collections over the new rows stall the proxy
            return await replace(source, check_hash, flatten_errors, pause)

    async def replace(
        source: Any, check_hash: bool, flatten_errors: bool, pause: Pause
    ) -> Response:
        state = api.declarative
        assert state is not None
        try:
            parsed = await state.parse(source)
        except InvalidDeclarativeConfig as exc:
            if flatten_errors:
                return Response(400, _error_body(exc, source, api))
            raise
        if check_hash and parsed.hash == state.hash:
            return Response(304)
        served = await state.apply(parsed)
        pause.replaced()

        def answer() -> bytes:  # large configurations: serialized off the reactor
            body = {name: {r["id"]: _visible(r) for r in rows} for name, rows in served.items()}
            return json_bytes(body)

        return Response(201, await state.in_thread(answer))

    router.add("/config", {"GET": get_config, "POST": post_config})


def _visible(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}
