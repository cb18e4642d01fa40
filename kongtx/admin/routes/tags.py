"""``/tags`` and ``/tags/{tag}``: every (entity, id, tag) triple, paginated.

The DAO contract has no tags index, so the listing is computed from one
consistent ``dao.load_all()`` read; offsets are opaque positions in that
ordering (entity name, id, tag).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from kongtx.admin.dispatch import Dispatcher
from kongtx.admin.errors import AdminError
from kongtx.admin.paging import escape_uri, next_url, parse_size
from kongtx.admin.request import AdminRequest, Response
from kongtx.errors import InvalidOffset

if TYPE_CHECKING:
    from kongtx.admin.app import AdminAPI

__all__ = ["decode_offset", "encode_offset", "install"]


def encode_offset(position: int) -> str:
    """Opaque token for a list position."""
    return base64.b64encode(json.dumps([position]).encode()).decode()


def decode_offset(token: str) -> int:
    """Inverse of :func:`encode_offset`; raises Kong's invalid-offset errors."""
    try:
        raw = base64.b64decode(token.encode(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidOffset(f"'{token}' is not a valid offset: bad base64 encoding") from None
    try:
        value = json.loads(raw)
        position = int(value[0])
    except (ValueError, TypeError, IndexError, KeyError):
        raise InvalidOffset(f"'{token}' is not a valid offset: bad json encoding") from None
    if position < 0:
        raise InvalidOffset(f"'{token}' is not a valid offset: bad json encoding")
    return position


def install(api: AdminAPI, router: Dispatcher) -> None:
    """Register ``/tags`` endpoints."""

    async def listing(req: AdminRequest, only: str | None, base: str) -> Response:
        raw_size = req.arg("size")
        size = parse_size(raw_size)
        offset = req.arg("offset")
        start = decode_offset(offset) if offset is not None else 0
        rows_by_entity = await api.dao.load_all()
        triples: list[dict[str, Any]] = []
        for name in sorted(rows_by_entity):
            for row in sorted(rows_by_entity[name], key=lambda r: str(r.get("id"))):
                for tag in row.get("tags") or ():
                    if only is None or tag == only:
                        triples.append(
                            {"entity_name": name, "entity_id": row.get("id"), "tag": tag}
                        )
        page = triples[start : start + size]
        token = encode_offset(start + size) if start + size < len(triples) else None
        body: dict[str, Any] = {"data": page}
        if token is not None:
            body["offset"] = token
        body["next"] = next_url(base, token, size=raw_size)
        return Response(200, body)

    async def all_tags(req: AdminRequest, params: dict[str, str]) -> Response:
        return await listing(req, None, "/tags")

    async def one_tag(req: AdminRequest, params: dict[str, str]) -> Response:
        tag = params["tags"]
        if "\ufffd" in tag:
            raise AdminError(400, {"message": "invalid utf-8 sequence in tag"})
        return await listing(req, tag, f"/tags/{escape_uri(tag)}")

    router.add("/tags", {"GET": all_tags})
    router.add("/tags/:tags", {"GET": one_tag})
