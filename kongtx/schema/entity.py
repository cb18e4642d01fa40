"""The :class:`Entity`: one declarative description of a stored entity.

The store, the Admin API and the declarative loader all derive their
behaviour from it (see ``docs/internals.md``, "schema").
"""

from __future__ import annotations

import copy
import secrets
import string
import uuid as _uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as _dc_field
from typing import Any

from kongtx.errors import SchemaViolation
from kongtx.schema import checks as _checks
from kongtx.schema.fields import (
    IMMUTABLE,
    UNKNOWN,
    Field,
    Foreign,
    Integer,
    Number,
    Record,
    String,
    coerce_fields,
    default_value,
    field_dict,
    normalize_fields,
)

Transformation = Callable[[dict, Any], Awaitable[dict]]
Shorthand = Callable[[dict, str], dict]
_ALPHANUM = string.ascii_letters + string.digits


def random_string(length: int = 32) -> str:
    """Kong's ``random_string``: ``length`` random alphanumeric characters."""
    return "".join(secrets.choice(_ALPHANUM) for _ in range(length))


# -- Kong's schema violation message ------------------------------------------


def _lua_key(key: Any) -> Any:
    return (0, key) if isinstance(key, int) else (1, str(key))


def _as_lua_table(errors: Any) -> dict[Any, Any]:
    """Index lists from 1 and drop their ``None`` holes, as Lua tables do."""
    if isinstance(errors, list):
        return {i + 1: v for i, v in enumerate(errors) if v is not None}
    return dict(errors)


def _lua_pretty(value: Any, indent: str = "") -> str:
    """Approximate penlight's ``pretty.write`` for nested error tables."""
    if isinstance(value, str):
        return '"%s"' % value
    if not isinstance(value, (list, dict)):
        return "null" if value is None else str(value)
    table = _as_lua_table(value)
    inner = indent + "  "
    lines: list[str] = []
    for key in sorted(table, key=_lua_key):
        item = _lua_pretty(table[key], inner)
        if isinstance(value, list) and key == len(lines) + 1:
            lines.append(inner + item)
        elif isinstance(key, str) and key.isidentifier():
            lines.append("%s%s = %s" % (inner, key, item))
        else:
            lines.append(
                '%s["%s"] = %s' % (inner, key, item)
                if isinstance(key, str)
                else "%s[%s] = %s" % (inner, key, item)
            )
    return "{\n" + ",\n".join(lines) + "\n" + indent + "}"


def format_violation(errors: Mapping[str, Any]) -> str:
    """Build Kong's schema-violation message from a nested ``errors`` structure.

    ``@entity`` messages first, then fields sorted by name; one nesting level
    is flattened (``config.minute: ...``, ``paths.1: ...``), deeper levels are
    pretty-printed as Kong does.
    """
    buf: list[str] = list(errors.get(_checks.ENTITY, ()))
    for name in sorted(k for k in errors if k != _checks.ENTITY):
        value = errors[name]
        if isinstance(value, (dict, list)):
            table = _as_lua_table(value)
            for sub in sorted(table, key=_lua_key):
                item = table[sub]
                text = _lua_pretty(item) if isinstance(item, (dict, list)) else item
                buf.append("%s.%s: %s" % (name, sub, text))
        else:
            buf.append("%s: %s" % (name, value))
    if len(buf) == 1:
        return "schema violation (%s)" % buf[0]
    return "%d schema violations (%s)" % (len(buf), "; ".join(buf))


def schema_violation(errors: Mapping[str, Any]) -> SchemaViolation:
    """Return a :class:`SchemaViolation` carrying Kong's message and ``fields``."""
    return SchemaViolation(format_violation(errors), dict(errors))


# -- subschemas ---------------------------------------------------------------


@dataclass
class Subschema:
    """Field overrides selected by the value of the entity's ``subschema_key``."""

    name: str
    fields: dict[str, Field]
    entity_checks: list[Any] = _dc_field(default_factory=list)
    #: ``(data, op) -> data`` input rewriters for the rows of this subschema.
    shorthands: list[Any] = _dc_field(default_factory=list)


class Entity:
    """A stored entity (``services``, ``keyauth_credentials``, ...).

    :param name: Kong's entity name, also the default table name.
    :param fields: ``{name: Field}`` (or ``[(name, Field)]``) in declaration order.
    :param id: prepend ``id`` (uuid, auto) unless declared.
    :param created_at: prepend ``created_at`` (int seconds, auto) unless declared.
    :param updated_at: add ``updated_at`` (int seconds, refreshed on every write).
    :param tags: append ``tags`` unless declared.
    :param admin_path: top-level Admin API path; default ``/<name>``.
    :param admin_nested_name: segment under a parent (``"key-auth"``); default
        the last segment of ``admin_path``.
    :param cache_key: composite unique key (``["name", "route", ...]``).
    :param ttl: writes accept a ``ttl`` (seconds).
    :param transient_fields: accepted on write, stored elsewhere by the DAO.
    :param entity_checks: :mod:`kongtx.schema.checks` instances.
    :param transformations: ``async (row, dao) -> row`` run by the DAO before writing.
    :param shorthands: ``(data, op) -> data`` input rewriters run by :meth:`process_input`.
    :param subschema_key: field whose value selects a :class:`Subschema`.
    :param subschema_error: message for an unknown/disabled subschema name.
    :param timestamp_ms: ``created_at``/``updated_at`` are float seconds (ms precision).
    :param admin_top_level: ``False`` when only nested Admin API paths exist (targets).
    """

    def __init__(
        self,
        name: str,
        fields: Any = (),
        *,
        table: str | None = None,
        primary_key: str = "id",
        endpoint_key: str | None = None,
        admin_path: str | None = None,
        admin_nested_name: str | None = None,
        cache_key: Iterable[str] | None = None,
        ttl: bool = False,
        transient_fields: Iterable[str] = (),
        entity_checks: Iterable[Any] = (),
        transformations: Iterable[Transformation] = (),
        shorthands: Iterable[Shorthand] = (),
        id: bool = True,
        created_at: bool = True,
        updated_at: bool = False,
        tags: bool = True,
        subschema_key: str | None = None,
        subschema_error: Callable[[Any], str] | None = None,
        timestamp_ms: bool = False,
        workspaceable: bool = True,
        admin_top_level: bool = True,
    ) -> None:
        from kongtx.schema import typedefs  # late: typedefs imports fields only

        declared = field_dict(fields)
        all_fields: dict[str, Field] = {}
        if id and "id" not in declared:
            all_fields["id"] = typedefs.uuid()
        stamp = typedefs.auto_timestamp_ms if timestamp_ms else typedefs.auto_timestamp_s
        if created_at and "created_at" not in declared:
            all_fields["created_at"] = stamp()
        if updated_at and "updated_at" not in declared:
            all_fields["updated_at"] = stamp()
        all_fields.update(declared)
        if tags and "tags" not in declared:
            all_fields["tags"] = typedefs.tags()
        self.name = name
        self.table = table or name
        self.fields: dict[str, Field] = all_fields
        self.primary_key = primary_key
        self.endpoint_key = endpoint_key
        self.admin_path = admin_path or "/" + name
        self.admin_nested_name = admin_nested_name or self.admin_path.rsplit("/", 1)[-1]
        self.cache_key = list(cache_key) if cache_key else None
        self.ttl = ttl
        self.transient_fields = list(transient_fields)
        self.entity_checks = list(entity_checks)
        self.transformations = list(transformations)
        self.shorthands = list(shorthands)
        self.subschema_key = subschema_key
        self.subschema_error = subschema_error
        self.subschemas: dict[str, Subschema] = {}
        self.subschema_enabled: Callable[[str], bool] = lambda _name: True
        self.workspaceable = workspaceable
        self.admin_top_level = admin_top_level
        self._merged: dict[str, dict[str, Field]] = {}
        self._ignored = set(self.transient_fields) | ({"ttl"} if ttl else set())

    def __repr__(self) -> str:
        return "<Entity %s>" % self.name

    # -- introspection --------------------------------------------------------
    def foreign_fields(self) -> dict[str, Foreign]:
        """``{field_name: Foreign}`` for every foreign key."""
        return {n: f for n, f in self.fields.items() if isinstance(f, Foreign)}

    def unique_fields(self) -> list[str]:
        """Names of the single-field unique constraints."""
        return [n for n, f in self.fields.items() if f.unique]

    def has_tags(self) -> bool:
        """Whether rows carry ``tags`` (lists can be filtered by tag)."""
        return "tags" in self.fields

    # -- subschemas -----------------------------------------------------------
    def add_subschema(self, sub: Subschema) -> None:
        """Register field overrides for rows whose ``subschema_key`` is ``sub.name``."""
        self.subschemas[sub.name] = sub
        self._merged.pop(sub.name, None)

    def subschema_for(self, row: Mapping[str, Any]) -> Subschema | None:
        """The enabled subschema selected by ``row``, or ``None``."""
        if self.subschema_key is None:
            return None
        value = row.get(self.subschema_key)
        if not isinstance(value, str):
            return None
        sub = self.subschemas.get(value)
        if sub is None or not self.subschema_enabled(value):
            return None
        return sub

    def fields_for(self, row: Mapping[str, Any]) -> dict[str, Field]:
        """The effective fields for ``row`` (base fields + its subschema overrides)."""
        sub = self.subschema_for(row)
        if sub is None:
            return self.fields
        merged = self._merged.get(sub.name)
        if merged is None:
            merged = dict(self.fields)
            merged.update(sub.fields)
            self._merged[sub.name] = merged
        return merged

    # -- input processing -----------------------------------------------------
    def coerce_form(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Form/multipart type inference driven by the schema (JSON skips this)."""
        return coerce_fields(self.fields_for(data), data)

    def process_input(self, data: Mapping[str, Any], op: str) -> dict[str, Any]:
        """Apply shorthands (``services.url``) and canonicalize (set duplicates dropped).

        :param op: ``"insert"``, ``"update"`` or ``"upsert"``.
        :raises SchemaViolation: on an unusable shorthand.
        """
        if op not in ("insert", "update", "upsert"):
            raise ValueError("unknown operation %r" % op)
        out = dict(data)
        for shorthand in self.shorthands:
            out = shorthand(out, op)
        sub = self.subschema_for(out)
        if sub is not None:
            for shorthand in sub.shorthands:
                out = shorthand(out, op)
        return normalize_fields(self.fields_for(out), out)

    def fill_defaults(self, data: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Return a complete row: every field present, auto values and defaults set.

        ``id`` (uuid4) and ``created_at`` are only generated when missing;
        ``updated_at`` is set to ``now``. Records are completed recursively.
        """
        out: dict[str, Any] = {}
        for name, field in self.fields_for(data).items():
            value = data.get(name)
            if field.auto and (value is None or (field.timestamp and name == "updated_at")):
                out[name] = self._auto_value(field, now)
            else:
                out[name] = default_value(field, value)
        for key, value in data.items():  # unknown/transient keys stay for validate/DAO
            if key not in out:
                out[key] = value
        return out

    @staticmethod
    def _auto_value(field: Field, now: float) -> Any:
        if field.uuid:
            return str(_uuid.uuid4())
        if field.timestamp:
            if isinstance(field, Integer):
                return int(now)
            return round(now, 3)
        if isinstance(field, String):
            return random_string()
        if isinstance(field, Number):
            return now
        return None

    def merge_update(self, existing: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH semantics: records merge recursively; arrays, sets, maps are replaced.

        :raises SchemaViolation: when an ``immutable`` field would change.
        """
        merged = {**existing}
        fields = self.fields_for({**existing, **patch})
        errors: dict[str, Any] = {}
        for key, value in patch.items():
            field = fields.get(key)
            old = existing.get(key)
            if field is not None and field.immutable and old is not None and value != old:
                errors[key] = IMMUTABLE
                continue
            merged[key] = _merge_value(field, old, value)
        if errors:
            raise schema_violation(errors)
        return merged

    # -- validation -----------------------------------------------------------
    def validate(self, row: Mapping[str, Any]) -> None:
        """Check ``row`` completely (types, rules, entity checks).

        :raises SchemaViolation: with Kong's message and nested ``fields``.
        """
        errors = self.errors(row)
        if errors:
            raise schema_violation(errors)

    def errors(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Return Kong's nested error structure for ``row`` (empty when valid)."""
        fields = self.fields_for(row)
        errors: dict[str, Any] = {}
        for key in row:
            if key not in fields and key not in self._ignored:
                errors[key] = UNKNOWN
        for name, field in fields.items():
            err = field.validate(row.get(name))
            if err is not None:
                errors[name] = err
        checks = self.entity_checks
        if self.subschema_key is not None:
            key_value = row.get(self.subschema_key)
            sub = self.subschema_for(row)
            if sub is not None:
                checks = checks + sub.entity_checks
            elif isinstance(key_value, str) and self.subschema_key not in errors:
                errors[self.subschema_key] = (
                    self.subschema_error(key_value) if self.subschema_error else UNKNOWN
                )
        _checks.run_checks(checks, row, fields, errors)
        return errors

    # -- JSON -----------------------------------------------------------------
    def to_schema_json(self) -> dict[str, Any]:
        """Kong's ``GET /schemas/{name}`` body."""
        out: dict[str, Any] = {"fields": [{name: f.to_json()} for name, f in self.fields.items()]}
        if self.entity_checks:
            out["entity_checks"] = [c.to_json() for c in self.entity_checks]
        return out


def _merge_value(field: Field | None, old: Any, new: Any) -> Any:
    if isinstance(field, Record) and isinstance(old, dict) and isinstance(new, dict):
        out = dict(old)
        for key, value in new.items():
            out[key] = _merge_value(field.fields.get(key), old.get(key), value)
        return out
    return copy.deepcopy(new)


__all__ = [
    "Entity",
    "Subschema",
    "format_violation",
    "random_string",
    "schema_violation",
]
