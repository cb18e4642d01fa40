"""Kong's declarative error answers: the nested ``fields`` tree and its flattened form.

The tree mirrors the document (``{"services": [{"routes": [{"paths": ...}]}]}``);
``flatten`` turns it into Kong's ``flattened_errors`` list (one entry per
faulty entity, nested children hoisted to the top, field paths dotted), as
``POST /config?flatten_errors=1`` answers.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kongtx.errors import InvalidDeclarativeConfig
from kongtx.schema.fields import is_uuid

__all__ = ["declarative_error", "flatten", "lua_compact", "tree_to_json"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _sort_key(key: Any) -> tuple[int, Any]:
    return (0, key) if isinstance(key, int) else (1, str(key))


def lua_compact(value: Any) -> str:
    """Approximate penlight's ``pretty.write(t, "")`` (Kong's one-line error tables)."""
    if isinstance(value, str):
        return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        if all(v is not None for v in value):
            return "{" + ",".join(lua_compact(v) for v in value) + "}"
        value = {i + 1: v for i, v in enumerate(value) if v is not None}
    if isinstance(value, dict):
        parts = []
        for key in sorted(value, key=_sort_key):
            if isinstance(key, int):
                label = "[%d]" % key
            elif _IDENT.match(key):
                label = key
            else:
                label = '["%s"]' % key
            parts.append("%s=%s" % (label, lua_compact(value[key])))
        return "{" + ",".join(parts) + "}"
    return str(value)


def tree_to_json(node: Any) -> Any:
    """Index-keyed dicts become lists with ``None`` holes (what cjson sends)."""
    if isinstance(node, dict):
        if node and all(isinstance(k, int) for k in node):
            out: list[Any] = [None] * (max(node) + 1)
            for k, v in node.items():
                out[k] = tree_to_json(v)
            return out
        return {k: tree_to_json(v) for k, v in node.items()}
    if isinstance(node, list):
        return [tree_to_json(v) for v in node]
    return node


def declarative_error(fields: dict[str, Any]) -> InvalidDeclarativeConfig:
    """Kong's code-14 error: ``declarative config is invalid: {...}``."""
    return InvalidDeclarativeConfig(
        "declarative config is invalid: " + lua_compact(fields), dict(fields)
    )


# -- flattening ----------------------------------------------------------------


def _singular(noun: str) -> str:
    return noun[:-1] if noun.endswith("s") else noun


def _join(ns: str, key: Any) -> str:
    label = str(key + 1) if isinstance(key, int) else str(key)
    return ns + "." + label if ns else label


def _categorize(errs: Any, ns: str, out: list[dict[str, Any]]) -> None:
    items = (
        enumerate(errs)
        if isinstance(errs, list)
        else sorted(errs.items(), key=lambda kv: _sort_key(kv[0]))
    )
    for key, err in items:
        if err is None:
            continue
        if key == "@entity":
            for message in err if isinstance(err, list) else [err]:
                out.append({"type": "entity", "message": message})
        elif isinstance(err, str):
            out.append({"type": "field", "field": _join(ns, key), "message": err})
        elif isinstance(err, (dict, list)):
            _categorize(err, _join(ns, key), out)


def _pk(entity: dict[str, Any]) -> dict[str, str] | None:
    value = entity.get("id")
    return {"id": value} if isinstance(value, str) and is_uuid(value) else None


class _Flattener:
    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self.out: list[dict[str, Any]] = []

    def entity(self, entity_type: str, entity: Any, err: Any) -> None:
        if not isinstance(err, dict) or not err or not isinstance(entity, dict):
            return
        err = dict(err)
        if not self.registry.has(entity_type):
            return
        ent = self.registry.get(entity_type)
        pk = _pk(entity)
        for fname, foreign in ent.foreign_fields().items():  # one-to-one: hoist
            value = entity.get(fname)
            if isinstance(value, dict) and fname in err:
                entity[fname] = _pk(value)
                self.entity(foreign.reference, value, err.pop(fname))
        for child in self.registry.all():  # one-to-many: nested children
            fks = [n for n, f in child.foreign_fields().items() if f.reference == entity_type]
            value = entity.get(child.name)
            if not fks or not isinstance(value, list):
                continue
            entity.pop(child.name)
            child_errs = err.pop(child.name, None)
            if not isinstance(child_errs, list):
                continue
            for i, item in enumerate(value):
                if i < len(child_errs) and isinstance(item, dict):
                    if item.get(fks[0]) is None and pk is not None:
                        item[fks[0]] = pk
                    self.entity(child.name, item, child_errs[i])
        if not err:
            return
        errors: list[dict[str, Any]] = []
        _categorize(err, "", errors)
        if not errors:
            return
        tags = entity.get("tags")
        self.out.append(
            {
                "entity_name": entity.get("name")
                if isinstance(entity.get("name"), str) and entity.get("name")
                else None,
                "entity_id": entity.get("id")
                if isinstance(entity.get("id"), str) and is_uuid(entity["id"])
                else None,
                "entity_tags": tags
                if isinstance(tags, list) and all(isinstance(t, str) for t in tags)
                else None,
                "entity_type": _singular(entity_type),
                "entity": entity,
                "errors": errors,
            }
        )


def flatten(
    fields: dict[str, Any], document: Any, registry: Any
) -> tuple[dict[str, Any], list[Any]]:
    """Split Kong's error tree into ``(what is left of it, flattened_errors)``.

    :param fields: the JSON error tree (lists for entity sections).
    :param document: the input the errors are about (copied, not changed).
    """
    rest: dict[str, Any] = {}
    flat = _Flattener(registry)
    document = copy.deepcopy(document) if isinstance(document, dict) else {}
    for section, errs in sorted(fields.items()):
        entities = document.get(section)
        if not isinstance(errs, list) or not isinstance(entities, list):
            rest[section] = errs
            continue
        for i, err in enumerate(errs):
            if err is not None and i < len(entities) and isinstance(entities[i], dict):
                flat.entity(section, entities[i], err)
    for entry in flat.out:  # optional keys are left out when unknown
        for key in ("entity_name", "entity_id", "entity_tags"):
            if entry[key] is None:
                del entry[key]
    return rest, flat.out
