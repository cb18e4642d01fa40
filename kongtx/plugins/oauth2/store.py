"""The oauth2 flows' storage: clients and tokens read through the entity cache, codes and
tokens written to (and refresh tokens read from) the database, so every node sees them."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

__all__ = ["EntityStore"]

Row = dict[str, Any]


async def _value(result: Any) -> Any:
    if isinstance(result, Deferred):
        return await result
    return result


class EntityStore:
    """:class:`~kongtx.plugins.oauth2.flows.Store` over ``ctx.entities`` (cache + DAO)."""

    def __init__(self, entities: Any) -> None:
        self.entities = entities
        self.dao = entities.source

    async def client(self, client_id: str) -> Row | None:
        return await _value(self.entities.row("oauth2_credentials", "client_id", client_id))

    async def code(self, code: str) -> Row | None:
        return await self.dao.select_by_field("oauth2_authorization_codes", "code", code)

    async def token_by_refresh(self, refresh_token: str) -> Row | None:
        return await self.dao.select_by_field("oauth2_tokens", "refresh_token", refresh_token)

    async def insert(self, entity: str, data: Row, ttl: int | None) -> Row:
        if ttl:
            data = {**data, "ttl": ttl}
        return await self.dao.insert(entity, data)

    async def update(self, entity: str, id: str, patch: Row, ttl: int | None) -> Row:
        if ttl:
            patch = {**patch, "ttl": ttl}
        return await self.dao.update(entity, id, patch)

    async def delete(self, entity: str, id: str) -> None:
        await self.dao.delete(entity, id)
