"""What the DAO needs from a storage backend: transactions over a small row API.

Rows crossing this boundary are Kong's JSON representation (every field, foreign
keys as ``{"id": ...}``) plus two hidden keys the DAO manages:

* ``_cache_key`` – the composite unique key (entities with ``cache_key``);
* ``_expire_at`` – absolute expiry in seconds (entities with ``ttl``), or None.

A transaction object (:class:`Tx`) hides expired rows from every read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from kongtx.store.events import ChangeEvent

T = TypeVar("T")
Row = dict[str, Any]

CACHE_KEY = "_cache_key"
EXPIRE_AT = "_expire_at"
HIDDEN = (CACHE_KEY, EXPIRE_AT)


class Tx(Protocol):
    """One transaction's view; all methods see the transaction's own writes."""

    now: float
    events: list[ChangeEvent]

    async def get(self, entity: Any, id: str) -> Row | None:
        """Return the row with primary key ``id``."""

    async def find(self, entity: Any, field: str, value: Any) -> Row | None:
        """Return one row whose ``field`` (or ``_cache_key``) equals ``value``."""

    async def find_all(self, entity: Any, field: str, value: Any) -> list[Row]:
        """Return every row whose ``field`` equals ``value`` (foreign: ``{"id": ...}``)."""

    async def insert(self, entity: Any, row: Row) -> None:
        """Insert a full row."""

    async def update(self, entity: Any, row: Row) -> None:
        """Replace the row with ``row["id"]``."""

    async def delete(self, entity: Any, id: str) -> None:
        """Delete the row with primary key ``id`` (no cascading)."""

    async def page(
        self,
        entity: Any,
        size: int,
        after: str | None,
        tags: list[str] | None,
        tags_cond: str,
        filters: dict[str, Any],
    ) -> list[Row]:
        """Return up to ``size`` rows with id > ``after`` in id order, filtered."""

    async def upsert_many(self, entity: Any, rows: list[Row]) -> None:
        """Insert or replace (by id) full rows in bulk, keeping existing ``created_at``."""

    async def all(self, entity: Any) -> list[Row]:
        """Return every live row in id order."""

    async def purge_expired(self, entity: Any) -> None:
        """Delete rows whose ttl ran out."""


class Backend(Protocol):
    """A storage backend (memory, sqlite, postgres)."""

    name: str

    async def transaction(
        self, fn: Callable[[Tx], Awaitable[T]], now: float, write: bool = True
    ) -> T:
        """Run ``fn(tx)`` atomically: commit on return, roll back on exception."""

    async def ping(self) -> None:
        """Raise if the backend is unusable."""

    async def close(self) -> None:
        """Release connections."""


def tags_match(row_tags: list[str] | None, tags: list[str], cond: str) -> bool:
    """Kong's tag filter: ``and`` = every tag present, ``or`` = any."""
    have = set(row_tags or ())
    if cond == "or":
        return any(t in have for t in tags)
    return all(t in have for t in tags)
