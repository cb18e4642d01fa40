"""Validate a declarative document against the schema registry and flatten it.

Everything is derived from the registry: the top-level sections are the
registered entities (plugin credentials included), the sections an entity
may nest are the entities with a foreign key to it, and every row goes
through the entity's own ``process_input`` / ``fill_defaults`` / ``errors``.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

from kongtx.declarative._errors import declarative_error, tree_to_json
from kongtx.declarative._ids import entity_uuid, key_for
from kongtx.declarative._migrate import FORMAT_VERSIONS, migrate_document
from kongtx.declarative._text import decode, document_hash, text_hash
from kongtx.errors import SchemaViolation
from kongtx.schema.fields import is_uuid

__all__ = ["Parsed", "parse_document", "parse_text"]

_META = ("_format_version", "_transform", "_comment", "_ignore", "_workspace")
#: stands in for an unresolved reference while the rest of the row is validated
_UNRESOLVED = "00000000-0000-0000-0000-000000000000"


@dataclass
class Parsed:
    """A valid declarative configuration, flattened.

    :ivar entities: ``{entity_name: [row, ...]}`` in registry order (parents
        first); rows are complete (defaults filled, ids set, foreign keys as
        ``{"id": ...}``), ``ttl`` kept for ttl entities.
    :ivar transform: the file's ``_transform`` (apply write transformations).
    :ivar format_version: ``_format_version`` as written.
    :ivar hash: md5 of the document (``check_hash``).
    """

    entities: dict[str, list[dict[str, Any]]]
    transform: bool
    format_version: str
    hash: str

    def count(self) -> int:
        """Number of rows in every section."""
        return sum(len(rows) for rows in self.entities.values())


@dataclass
class _Item:
    ent: Any
    raw: dict[str, Any]
    row: dict[str, Any]
    path: tuple[Any, ...]
    refs: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Any] = field(default_factory=dict)


def _put(tree: dict[Any, Any], path: tuple[Any, ...], errors: dict[str, Any]) -> None:
    node = tree
    for key in path:
        node = node.setdefault(key, {})
    for key, value in errors.items():
        if isinstance(node.get(key), dict) and isinstance(value, dict):
            node[key].update(value)
        else:
            node[key] = value


class _Walker:
    """One pass over a document: rows, their paths and their own errors."""

    def __init__(self, registry: Any, now: float) -> None:
        self.registry = registry
        self.now = now
        self.entities = registry.all()
        self.items: list[_Item] = []
        self.tree: dict[Any, Any] = {}
        self.foreign = {e.name: list(e.foreign_fields()) for e in self.entities}
        # entity name -> {nestable section: (child entity, its foreign key field)}
        self.nested: dict[str, dict[str, tuple[Any, str]]] = {e.name: {} for e in self.entities}
        for child in self.entities:
            for fname, foreign in child.foreign_fields().items():
                sections = self.nested.get(foreign.reference)
                if sections is not None and child.name not in sections:
                    sections[child.name] = (child, fname)

    def section(
        self, ent: Any, value: Any, path: tuple[Any, ...], parent: tuple[str, str] | None
    ) -> None:
        if not isinstance(value, list):
            _put(self.tree, path[:-1], {path[-1]: "expected an array"})
            return
        for i, raw in enumerate(value):
            if isinstance(raw, str) and parent is not None and ent.endpoint_key:
                raw = {ent.endpoint_key: raw}  # ``snis: [a.test]`` under a certificate
            self.item(ent, raw, (*path, i), parent)

    def item(
        self, ent: Any, raw: Any, path: tuple[Any, ...], parent: tuple[str, str] | None
    ) -> None:
        if not isinstance(raw, dict):
            _put(self.tree, path[:-1], {path[-1]: "expected a record"})
            return
        errors: dict[str, Any] = {}
        data: dict[str, Any] = {}
        children: dict[str, Any] = {}
        sections = self.nested[ent.name]
        for key, value in raw.items():
            if key == "_comment":
                if not isinstance(value, str):
                    errors[key] = "expected a string"
            elif key == "_ignore":
                if not isinstance(value, list):
                    errors[key] = "expected an array"
            elif key in sections and (key not in ent.fields or key in ent.transient_fields):
                children[key] = value
            else:
                data[key] = value
        refs: dict[str, Any] = {}
        parent_fk, parent_id = parent if parent is not None else (None, None)
        for fname in self.foreign[ent.name]:
            value = data.get(fname)
            if fname == parent_fk:
                if value is not None:
                    errors[fname] = "value must be null"
                data[fname] = {"id": parent_id}
            elif value is not None:
                if parent is not None:
                    errors[fname] = "value must be null"
                    data[fname] = None
                else:
                    refs[fname] = data.pop(fname)
        ttl = data.pop("ttl", None) if ent.ttl else None
        try:
            data = ent.process_input(data, "insert")
        except SchemaViolation as exc:
            errors.update(exc.fields or {})
        if data.get("id") is None:
            key = key_for(ent, raw, parent_id, parent_fk)
            data["id"] = entity_uuid(ent.name, key) if key is not None else str(uuid.uuid4())
        elif isinstance(data["id"], str) and is_uuid(data["id"]):
            data["id"] = data["id"].lower()
        row = ent.fill_defaults(data, self.now)
        for stamp in ("created_at", "updated_at"):  # kept as written (round trips)
            if raw.get(stamp) is not None and stamp in row:
                row[stamp] = raw[stamp]
        if ttl is not None:
            row["ttl"] = ttl
        self.items.append(_Item(ent, raw, row, path, refs, errors))
        for key, value in children.items():
            child, fk = sections[key]
            self.section(child, value, (*path, key), (fk, row["id"]))


def _check_top(document: dict[str, Any], registry: Any) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    version = document.get("_format_version")
    if version is None:
        errors["_format_version"] = "required field missing"
    elif not isinstance(version, str):
        errors["_format_version"] = "expected a string"
    elif version not in FORMAT_VERSIONS:
        errors["_format_version"] = "expected one of: " + ", ".join(FORMAT_VERSIONS)
    if not isinstance(document.get("_transform", True), bool):
        errors["_transform"] = "expected a boolean"
    if not isinstance(document.get("_comment", ""), str):
        errors["_comment"] = "expected a string"
    if not isinstance(document.get("_ignore", []), list):
        errors["_ignore"] = "expected an array"
    for key in document:
        if key not in _META and not registry.has(key):
            errors[key] = "unknown field"
    return errors


class _Index:
    """Rows by id and by endpoint key, per entity, to resolve references."""

    def __init__(self, items: list[_Item]) -> None:
        self.by_id: dict[str, dict[str, _Item]] = {}
        self.by_key: dict[str, dict[str, _Item]] = {}
        for item in items:
            name = item.ent.name
            self.by_id.setdefault(name, {}).setdefault(str(item.row["id"]), item)
            ek = item.ent.endpoint_key
            if ek:
                for value in (item.raw.get(ek), item.row.get(ek)):
                    if isinstance(value, str):
                        self.by_key.setdefault(name, {}).setdefault(value, item)

    def find(self, entity: str, key: str) -> _Item | None:
        found = self.by_key.get(entity, {}).get(key)
        if found is None:
            found = self.by_id.get(entity, {}).get(key.lower() if is_uuid(key) else key)
        return found


def _label(item: _Item) -> str:
    ek = item.ent.endpoint_key
    value = item.row.get(ek) if ek else None
    return value if isinstance(value, str) else str(item.row["id"])


def _resolve(items: list[_Item]) -> dict[str, Any]:
    index = _Index(items)
    errors: dict[str, Any] = {}
    for item in items:
        for fname, value in item.refs.items():
            reference = item.ent.fields[fname].reference
            key = value.get("id") if isinstance(value, dict) else value
            found = index.find(reference, key) if isinstance(key, str) else None
            if found is not None:
                item.row[fname] = {"id": found.row["id"]}
                continue
            item.row[fname] = {"id": _UNRESOLVED}
            text = value if isinstance(value, str) else _json(value)
            errors.setdefault(item.ent.name, {}).setdefault(_label(item), []).append(
                "invalid reference '%s: %s' (no such entry in '%s')" % (fname, text, reference)
            )
    return errors


def _json(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _uniqueness(items: list[_Item]) -> dict[str, Any]:
    from kongtx.store.dao import DAO

    seen: set[tuple[str, str, str]] = set()
    errors: dict[str, Any] = {}

    def check(item: _Item, what: str, value: Any) -> None:
        mark = (item.ent.name, what, value if isinstance(value, str) else _json(value))
        if mark in seen:
            shown = value if isinstance(value, str) else _json(value)
            errors.setdefault(item.ent.name, {}).setdefault(_label(item), []).append(
                "uniqueness violation: '%s' entity with %s set to '%s' already declared"
                % (item.ent.name, what, shown)
            )
        seen.add(mark)

    for item in items:
        if item.raw.get("id") is not None:  # generated ids repeat only with their keys
            check(item, "primary key", item.row["id"])
        for fname in item.ent.unique_fields():
            if fname != item.ent.primary_key and item.row.get(fname) is not None:
                check(item, fname, item.row[fname])
        if item.ent.cache_key:
            check(item, "cache key", DAO.cache_key_value(item.ent, item.row))
    return errors


def parse_document(document: Any, registry: Any, now: float, digest: str | None = None) -> Parsed:
    """Validate ``document`` (a decoded file) and flatten it.

    :param registry: the schema registry (its entities and plugin schemas).
    :param now: timestamp for ``created_at``/``updated_at`` not in the file.
    :param digest: the configuration's hash (default: of the document's JSON).
    :raises InvalidDeclarativeConfig: with Kong's nested ``fields``.
    """
    from kongtx.declarative._text import parse_failure

    if not isinstance(document, dict):
        raise parse_failure("expected an object")
    if digest is None:
        digest = document_hash(document)
    top = _check_top(document, registry)
    if top:
        raise declarative_error(top)
    version = document["_format_version"]
    if version != "3.0":  # the upgrade rewrites paths: work on a copy
        document = copy.deepcopy(document)
        migrate_document(document)
    walker = _Walker(registry, now)
    for ent in walker.entities:
        if ent.name in document:
            walker.section(ent, document[ent.name], (ent.name,), None)
    for item in walker.items:
        item.row.update({k: {"id": _UNRESOLVED} for k in item.refs})
    resolve_errors = _resolve(walker.items)
    for item in walker.items:
        row = {k: v for k, v in item.row.items() if k != "ttl"}
        errors = item.ent.errors(row)
        errors.update(item.errors)
        if errors:
            _put(walker.tree, item.path, errors)
    if walker.tree:
        raise declarative_error(tree_to_json(walker.tree))
    if resolve_errors:
        raise declarative_error(resolve_errors)
    unique_errors = _uniqueness(walker.items)
    if unique_errors:
        raise declarative_error(unique_errors)
    entities: dict[str, list[dict[str, Any]]] = {}
    for ent in walker.entities:
        entities[ent.name] = []
    for item in walker.items:
        entities[item.ent.name].append(item.row)
    return Parsed(
        {k: v for k, v in entities.items() if v},
        bool(document.get("_transform", True)),
        version,
        digest,
    )


def parse_text(text: str | bytes, registry: Any, now: float) -> Parsed:
    """Decode YAML/JSON ``text`` and :func:`parse_document` it (hash: of the text, as Kong)."""
    return parse_document(decode(text), registry, now, text_hash(text))
