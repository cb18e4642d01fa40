"""Deterministic ids: Kong's uuid-v5-from-endpoint-key scheme.

An entity without an ``id`` gets ``uuid5(uuid5(NS, entity_name), key)``
where ``key`` is its endpoint key (composed with the parent's id when the
endpoint key is only unique per parent, as targets are per upstream) or,
failing that, its cache key. Re-applying the same file yields the same ids.
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

__all__ = ["entity_uuid", "key_for"]

#: Kong's namespace for declarative ids (``declarative_config.lua``).
NAMESPACE = uuid.UUID("fd02801f-0957-4a15-a55a-c8d9606f30b5")


@cache
def _namespace(entity_name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, entity_name)


def entity_uuid(entity_name: str, key: str) -> str:
    """The deterministic id of the ``entity_name`` row identified by ``key``."""
    return str(uuid.uuid5(_namespace(entity_name), key))


def _ref_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return value["id"]
    return None


def key_for(
    ent: Any, item: dict[str, Any], parent_id: str | None, parent_fk: str | None
) -> str | None:
    """The key an id is derived from, or ``None`` (a random id then).

    :param item: the entity as written in the file (references unresolved).
    :param parent_id: id of the entity ``item`` is nested under, if any.
    :param parent_fk: the field of ``item`` pointing at that parent.
    """
    ek = ent.endpoint_key
    if ek and item.get(ek) is not None:
        key = str(item[ek])
        field = ent.fields.get(ek)
        if field is not None and not field.unique:
            for fname, foreign in ent.foreign_fields().items():
                if foreign.on_delete != "cascade":
                    continue
                ref = parent_id if parent_id is not None else _ref_text(item.get(fname))
                if ref is not None:
                    key += ":" + ref
        return key
    if ent.cache_key:
        parts = [ent.name]
        for k in ent.cache_key:
            field = ent.fields[k]
            value = item.get(k)
            if field.auto:
                return None
            if isinstance(value, str):
                parts.append(value)
            elif value is None:
                if k == parent_fk and parent_id is not None:
                    parts.append(parent_id)
                elif field.required:
                    return None
                else:
                    parts.append("")
        return ":".join(parts)
    return None
