"""Write parsed declarative rows into a store.

* :func:`import_parsed` (``kongtx config db_import``): upsert by id into the
  configured database in ONE transaction, rows sent in multi-row statements
  (no per-row round trips); any failure rolls everything back. Rows not in
  the file are kept, as in Kong.
* :func:`memory_tables` + ``MemoryBackend.replace_tables`` (DB-less): the
  whole in-memory store replaced at once.
"""

from __future__ import annotations

from typing import Any

from kongtx.declarative._parse import Parsed
from kongtx.store.backend import CACHE_KEY, EXPIRE_AT, Row
from kongtx.store.dao import DAO
from kongtx.store.events import FULL_RELOAD

__all__ = ["import_parsed", "memory_tables", "storable_rows", "transformed"]


class _TransformContext:
    """What entity transformations may use from a DAO (its clock)."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock


async def transformed(parsed: Parsed, registry: Any, clock: Any) -> dict[str, list[Row]]:
    """``parsed``'s rows with the entities' write transformations applied (unless
    ``_transform: false``); only entities that have transformations are touched."""
    if not parsed.transform:
        return parsed.entities
    context = _TransformContext(clock)
    out: dict[str, list[Row]] = {}
    for name, rows in parsed.entities.items():
        transformations = registry.get(name).transformations
        if not transformations:
            out[name] = rows
            continue
        done = []
        for row in rows:
            for transform in transformations:
                row = await transform(row, context)
            done.append(row)
        out[name] = done
    return out


def storable_rows(
    entities: dict[str, list[Row]], registry: Any, now: float
) -> dict[str, list[Row]]:
    """Rows as the DAO stores them: fields in declaration order, composite key and
    expiry columns set (pure: may run in a thread)."""
    out: dict[str, list[Row]] = {}
    for name, rows in entities.items():
        ent = registry.get(name)
        stored = []
        for row in rows:
            item = {k: row.get(k) for k in ent.fields_for(row)}
            if ent.cache_key:
                item[CACHE_KEY] = DAO.cache_key_value(ent, item)
            if ent.ttl:
                ttl = row.get("ttl")
                item[EXPIRE_AT] = now + ttl if ttl else None
            stored.append(item)
        out[name] = stored
    return out


async def import_parsed(dao: Any, parsed: Parsed) -> dict[str, int]:
    """Upsert every row of ``parsed`` into ``dao``'s database, all or nothing.

    Other nodes are told to reload everything (one cluster event).

    :returns: ``{entity: rows written}``.
    :raises KongtxError: (e.g. ``DatabaseError`` on a UNIQUE clash with a row
        not in the file); nothing is written then.
    """
    entities = await transformed(parsed, dao.registry, dao.clock)
    rows = storable_rows(entities, dao.registry, dao.clock.seconds())

    async def work(tx: Any) -> None:
        for ent in dao.registry.all():
            if rows.get(ent.name):
                await tx.upsert_many(ent, rows[ent.name])
        tx.events.append(FULL_RELOAD)

    await dao.backend.transaction(work, dao.clock.seconds(), True)
    dao.fire(FULL_RELOAD)
    return {name: len(entity_rows) for name, entity_rows in rows.items()}


def memory_tables(rows: dict[str, list[Row]]) -> Any:
    """The in-memory tables holding ``rows`` (pure: may run in a thread)."""
    from kongtx.store.memory import build_tables

    return build_tables(rows)
