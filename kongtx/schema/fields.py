"""Field types of the declarative schema language (Kong's ``kong/db/schema``).

A field validates one value and answers Kong's error structure: a message
string for a scalar, a list (``None`` where an element is fine) for array/set
elements, a dict for maps, records and foreign keys. ``None`` means valid.
Scalars live in :mod:`kongtx.schema._base`; this module adds the containers
and re-exports everything.
"""

from __future__ import annotations

import copy
import secrets
import string
from collections.abc import Iterable, Mapping
from typing import Any

from kongtx.schema import checks as _checks
from kongtx.schema._base import (
    IMMUTABLE,
    REQUIRED,
    UNKNOWN,
    Boolean,
    Field,
    Integer,
    Number,
    String,
    Validator,
    is_uuid,
)

__all__ = [
    "IMMUTABLE",
    "REQUIRED",
    "UNKNOWN",
    "Array",
    "Boolean",
    "Field",
    "Foreign",
    "Integer",
    "Map",
    "Number",
    "Record",
    "Set",
    "String",
    "Validator",
    "coerce_fields",
    "default_value",
    "field_dict",
    "fill_record",
    "is_uuid",
    "normalize_fields",
    "validate_fields",
]


_ALPHANUM = string.ascii_letters + string.digits


def _as_list(value: Any) -> Any:
    """Form input: a scalar becomes a one-element list, ``{"1": a, "2": b}`` a list."""
    if isinstance(value, dict) and value and all(str(k).isdigit() for k in value):
        return [value[k] for k in sorted(value, key=lambda k: int(k))]
    if isinstance(value, (list, dict)):
        return value
    return [value]


class Array(Field):
    """An ordered list whose elements all follow ``elements``."""

    type_name = "array"
    _expected = "expected an array"

    def __init__(self, elements: Field, **kwargs: Any) -> None:
        self.elements = elements
        super().__init__(**kwargs)

    def _check_type(self, value: Any) -> Any:
        return None if isinstance(value, list) else self._expected

    def _check_children(self, value: Any) -> Any:
        errors: list[Any] = []
        for idx, item in enumerate(value):
            err = self.elements.validate(item)
            if err is not None:
                errors.extend([None] * (idx - len(errors)))
                errors.append(err)
        return errors or None

    def coerce_form(self, value: Any) -> Any:
        if value == "" or value is None:
            return None
        value = _as_list(value)
        if isinstance(value, list):
            return [self.elements.coerce_form(v) for v in value]
        return value

    def normalize(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.elements.normalize(v) for v in value]
        return value

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["elements"] = self.elements.to_json()
        return out


class Set(Array):
    """An array without duplicates (duplicates are dropped on input, as Kong does)."""

    type_name = "set"
    _expected = "expected a set"

    def normalize(self, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        out: list[Any] = []
        seen: set[Any] = set()  # hashable items: linear, not quadratic, in the set's size
        for item in value:
            item = self.elements.normalize(item)
            try:
                if item in seen:
                    continue
                seen.add(item)
            except TypeError:  # unhashable (records): compared the slow way
                if item in out:
                    continue
            out.append(item)
        return out


class Map(Field):
    """A JSON object with free keys validated by ``keys`` and values by ``values``."""

    type_name = "map"

    def __init__(self, keys: Field, values: Field, **kwargs: Any) -> None:
        self.keys = keys
        self.values = values
        super().__init__(**kwargs)

    def _check_type(self, value: Any) -> Any:
        return None if isinstance(value, dict) else "expected a map"

    def _check_children(self, value: Any) -> Any:
        errors: dict[str, Any] = {}
        for key, item in value.items():
            err = self.keys.validate(key)
            if err is None:
                err = self.values.validate(item)
            if err is not None:
                errors[key] = err
        return errors or None

    def coerce_form(self, value: Any) -> Any:
        if value == "" or value is None:
            return None
        if isinstance(value, dict):
            return {k: self.values.coerce_form(v) for k, v in value.items()}
        return value

    def normalize(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.values.normalize(v) for k, v in value.items()}
        return value

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["keys"] = self.keys.to_json()
        out["values"] = self.values.to_json()
        return out


def field_dict(fields: Any) -> dict[str, Field]:
    """Accept ``{name: Field}``, ``[(name, Field)]`` or Kong-style ``[{name: Field}]``."""
    if isinstance(fields, Mapping):
        return dict(fields)
    out: dict[str, Field] = {}
    for item in fields:
        if isinstance(item, Mapping):
            out.update(item)
        else:
            name, field = item
            out[name] = field
    return out


class Record(Field):
    """A nested object with declared ``fields`` (unknown keys are refused).

    A missing required record (or one with a default) is filled with its
    sub-fields' defaults, recursively; ``entity_checks`` run on the record and
    report under ``"@entity"``.
    """

    type_name = "record"

    def __init__(
        self, fields: Any = (), *, entity_checks: Iterable[Any] = (), **kwargs: Any
    ) -> None:
        self.fields = field_dict(fields)
        self.entity_checks = list(entity_checks)
        super().__init__(**kwargs)

    def _check_type(self, value: Any) -> Any:
        return None if isinstance(value, dict) else "expected a record"

    def _check_children(self, value: Any) -> Any:
        errors = validate_fields(self.fields, value)
        if self.entity_checks:
            _checks.run_checks(self.entity_checks, value, self.fields, errors)
        return errors or None

    def coerce_form(self, value: Any) -> Any:
        if value == "" or value is None:
            return None
        if isinstance(value, dict):
            return coerce_fields(self.fields, value)
        return value

    def normalize(self, value: Any) -> Any:
        if isinstance(value, dict):
            return normalize_fields(self.fields, value)
        return value

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["fields"] = [{name: f.to_json()} for name, f in self.fields.items()]
        if self.entity_checks:
            out["entity_checks"] = [c.to_json() for c in self.entity_checks]
        return out


class Foreign(Field):
    """A reference to another entity's primary key: ``{"id": "<uuid>"}`` or ``None``.

    :param reference: the referenced entity's name (``"services"``).
    :param on_delete: ``"restrict"`` (Kong's default) or ``"cascade"``.
    """

    type_name = "foreign"

    def __init__(self, reference: str, *, on_delete: str = "restrict", **kwargs: Any) -> None:
        if on_delete not in ("restrict", "cascade"):
            raise ValueError("on_delete must be 'restrict' or 'cascade'")
        self.reference = reference
        self.on_delete = on_delete
        super().__init__(**kwargs)

    def _check_type(self, value: Any) -> Any:
        return None if isinstance(value, dict) else "expected a record"

    def _check_children(self, value: Any) -> Any:
        errors: dict[str, Any] = {}
        for key in value:
            if key != "id":
                errors[key] = UNKNOWN
        ident = value.get("id")
        if ident is None:
            errors["id"] = REQUIRED
        elif not is_uuid(ident):
            errors["id"] = (
                "expected a string" if not isinstance(ident, str) else "expected a valid UUID"
            )
        return errors or None

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["reference"] = self.reference
        if self.on_delete != "restrict":
            out["on_delete"] = self.on_delete
        return out


# -- helpers over a {name: Field} mapping ------------------------------------


def validate_fields(
    fields: Mapping[str, Field], data: Mapping[str, Any], ignore: Iterable[str] = ()
) -> dict[str, Any]:
    """Validate every declared field of ``data``; unknown keys are errors."""
    errors: dict[str, Any] = {}
    for key in data:
        if key not in fields and key not in ignore:
            errors[key] = UNKNOWN
    for name, field in fields.items():
        err = field.validate(data.get(name))
        if err is not None:
            errors[name] = err
    return errors


def coerce_fields(fields: Mapping[str, Field], data: Mapping[str, Any]) -> dict[str, Any]:
    """Form type inference over a mapping; unknown keys are kept for validation."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        field = fields.get(key)
        out[key] = field.coerce_form(value) if field is not None else value
    return out


def normalize_fields(fields: Mapping[str, Field], data: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``data`` with each known field normalized (sets deduplicated)."""
    out = dict(data)
    for key, value in data.items():
        field = fields.get(key)
        if field is not None and value is not None:
            out[key] = field.normalize(value)
    return out


def fill_record(fields: Mapping[str, Field], data: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults of a record's sub-fields, recursively (an ``auto`` string sub-field,
    such as oauth2's ``provision_key``, gets 32 random alphanumeric characters)."""
    out = dict(data)
    for name, field in fields.items():
        out[name] = default_value(field, out.get(name))
    return out


def default_value(field: Field, value: Any) -> Any:
    """Return ``value`` completed with ``field``'s defaults (records recursively)."""
    if value is None:
        if field.default is not None:
            value = copy.deepcopy(field.default)
        elif field.auto and isinstance(field, String) and not field.uuid:
            return "".join(secrets.choice(_ALPHANUM) for _ in range(32))
        elif isinstance(field, Record) and field.required and not field.abstract:
            value = {}
        else:
            return None
    if isinstance(field, Record) and isinstance(value, dict) and not field.abstract:
        return fill_record(field.fields, value)
    return value
