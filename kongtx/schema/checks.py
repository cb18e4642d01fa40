"""Entity checks (Kong's ``entity_checks``): rules over several fields of a row.

A check adds messages to ``errors["@entity"]`` (and, for conditionals, an
error under the checked field). A check is skipped when one of its fields
already has an error, as Kong does. Field names may be dotted
(``"config.second"``) to reach into records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

ENTITY = "@entity"


def get_path(data: Mapping[str, Any], path: str) -> Any:
    """Return the value at a dotted ``path`` of ``data``, or ``None``."""
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def field_at(fields: Mapping[str, Any], path: str) -> Any:
    """Return the Field declared at a dotted ``path``, or ``None``."""
    parts = path.split(".")
    field = fields.get(parts[0])
    for part in parts[1:]:
        sub = getattr(field, "fields", None)
        if not isinstance(sub, Mapping):
            return None
        field = sub.get(part)
    return field


def is_nonempty(value: Any) -> bool:
    """Kong's notion of a set field: not null, not ``""``, not an empty table."""
    if value is None or value == "":
        return False
    return not (isinstance(value, (list, dict)) and not value)


def _quoted(names: Iterable[str]) -> str:
    return ", ".join("'%s'" % n for n in names)


def _has_error(errors: Mapping[str, Any], path: str) -> bool:
    value: Any = errors
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False
        value = value[part]
    return True


def add_entity_error(errors: dict[str, Any], message: str) -> None:
    """Append ``message`` to ``errors["@entity"]``."""
    errors.setdefault(ENTITY, []).append(message)


def set_path_error(errors: dict[str, Any], path: str, message: Any) -> None:
    """Put ``message`` at a dotted ``path`` of the nested ``errors`` structure."""
    parts = path.split(".")
    target = errors
    for part in parts[:-1]:
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            target[part] = nxt
        target = nxt
    target[parts[-1]] = message


class EntityCheck:
    """Base class: ``fields`` lists the involved fields; ``name`` is Kong's key."""

    name = "check"

    def __init__(self, fields: Iterable[str]) -> None:
        self.fields = list(fields)

    def involved(self) -> list[str]:
        """Fields whose errors make the check skip."""
        return self.fields

    def run(
        self,
        row: Mapping[str, Any],
        schema_fields: Mapping[str, Any],
        errors: dict[str, Any],
    ) -> None:
        """Add this check's errors (if any) to ``errors``."""
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        """Kong's JSON form of the check."""
        return {self.name: list(self.fields)}


_AT_LEAST_ONE_OF = "at least one of these fields must be non-empty: "


class _FieldValuesCheck(EntityCheck):
    """A check over the values of ``fields``: when :meth:`violated`, ``message`` + the quoted names."""

    message = ""

    def violated(self, values: list[Any]) -> bool:
        """Whether the values (in ``fields`` order, ``None`` when absent) break the rule."""
        raise NotImplementedError

    def run(
        self,
        row: Mapping[str, Any],
        schema_fields: Mapping[str, Any],
        errors: dict[str, Any],
    ) -> None:
        if self.violated([get_path(row, f) for f in self.fields]):
            add_entity_error(errors, self.message + _quoted(self.fields))


class AtLeastOneOf(_FieldValuesCheck):
    """At least one of the fields must be non-empty."""

    name = "at_least_one_of"
    message = _AT_LEAST_ONE_OF

    def violated(self, values: list[Any]) -> bool:
        return not any(is_nonempty(v) for v in values)


class OnlyOneOf(_FieldValuesCheck):
    """Exactly one of the fields must be non-empty."""

    name = "only_one_of"
    message = "exactly one of these fields must be non-empty: "

    def violated(self, values: list[Any]) -> bool:
        return sum(1 for v in values if is_nonempty(v)) != 1


class MutuallyRequired(_FieldValuesCheck):
    """All or none of the fields must be set."""

    name = "mutually_required"
    message = "all or none of these fields must be set: "

    def violated(self, values: list[Any]) -> bool:
        return 0 < sum(1 for v in values if v is not None) < len(values)


class MutuallyExclusive(_FieldValuesCheck):
    """At most one of the fields may be set."""

    name = "mutually_exclusive"
    message = "only one or none of these fields must be set: "

    def violated(self, values: list[Any]) -> bool:
        return sum(1 for v in values if is_nonempty(v)) > 1


class Distinct(_FieldValuesCheck):
    """Set values of the fields must all differ."""

    name = "distinct"
    message = "values of these fields must be distinct: "

    def violated(self, values: list[Any]) -> bool:
        present = [v for v in values if v is not None]
        return any(present.count(v) > 1 for v in present)


def _matcher(schema_fields: Mapping[str, Any], path: str, spec: Mapping[str, Any]) -> Any:
    """Build a Field checking ``spec`` attributes against the declared field type."""
    base = field_at(schema_fields, path)
    if base is None:
        raise KeyError("entity check refers to unknown field %r" % path)
    overrides = {k: v for k, v in spec.items() if k != "elements"}
    overrides.setdefault("required", False)
    overrides.setdefault("validators", ())
    if "elements" in spec:
        elem_spec = dict(spec["elements"])
        elem_spec.setdefault("validators", ())
        overrides["elements"] = base.elements.derive(**elem_spec)
    return base.derive(**overrides)


class Conditional(EntityCheck):
    """If ``if_field`` passes ``if_match``, ``then_field`` must pass ``then_match``.

    ``if_match``/``then_match`` are field attributes (``{"one_of": [...]}``,
    ``{"required": True}``, ``{"eq": None}``, ``{"elements": {...}}``). On
    failure the field gets its own error and ``@entity`` gets ``then_err`` or
    Kong's ``failed conditional validation given value of field '<if_field>'``.
    """

    name = "conditional"

    def __init__(
        self,
        if_field: str,
        if_match: Mapping[str, Any],
        then_field: str,
        then_match: Mapping[str, Any],
        then_err: str | None = None,
    ) -> None:
        super().__init__([if_field, then_field])
        self.if_field, self.if_match = if_field, dict(if_match)
        self.then_field, self.then_match = then_field, dict(then_match)
        self.then_err = then_err
        self._cache: dict[int, tuple[Any, Any]] = {}

    def _matchers(self, schema_fields: Mapping[str, Any]) -> tuple[Any, Any]:
        key = id(schema_fields)
        pair = self._cache.get(key)
        if pair is None or pair[0] is not schema_fields:
            if_m = _matcher(schema_fields, self.if_field, self.if_match)
            then_m = _matcher(schema_fields, self.then_field, self.then_match)
            pair = (schema_fields, (if_m, then_m))
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = pair
        return pair[1]

    def run(
        self,
        row: Mapping[str, Any],
        schema_fields: Mapping[str, Any],
        errors: dict[str, Any],
    ) -> None:
        if_m, then_m = self._matchers(schema_fields)
        # as in Kong, a null if_field matches unless if_match requires a value
        if if_m.validate(get_path(row, self.if_field)) is not None:
            return
        err = then_m.validate(get_path(row, self.then_field))
        if err is None:
            return
        set_path_error(errors, self.then_field, err)
        add_entity_error(
            errors,
            self.then_err
            or "failed conditional validation given value of field '%s'" % self.if_field,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "if_field": self.if_field,
            "if_match": self.if_match,
            "then_field": self.then_field,
            "then_match": self.then_match,
        }
        if self.then_err:
            out["then_err"] = self.then_err
        return {self.name: out}


class ConditionalAtLeastOneOf(EntityCheck):
    """If ``if_field`` passes ``if_match``, one of ``then_at_least_one_of`` must be set."""

    name = "conditional_at_least_one_of"

    def __init__(
        self,
        if_field: str,
        if_match: Mapping[str, Any],
        then_at_least_one_of: Iterable[str],
        then_err: str | None = None,
    ) -> None:
        self.then_at_least_one_of = list(then_at_least_one_of)
        super().__init__([if_field, *self.then_at_least_one_of])
        self.if_field, self.if_match, self.then_err = if_field, dict(if_match), then_err

    def run(
        self,
        row: Mapping[str, Any],
        schema_fields: Mapping[str, Any],
        errors: dict[str, Any],
    ) -> None:
        matcher = _matcher(schema_fields, self.if_field, self.if_match)
        if_value = get_path(row, self.if_field)
        if if_value is None or matcher.validate(if_value) is not None:
            return
        if not any(is_nonempty(get_path(row, f)) for f in self.then_at_least_one_of):
            add_entity_error(
                errors,
                self.then_err or _AT_LEAST_ONE_OF + _quoted(self.then_at_least_one_of),
            )

    def to_json(self) -> dict[str, Any]:
        return {
            self.name: {
                "if_field": self.if_field,
                "if_match": self.if_match,
                "then_at_least_one_of": self.then_at_least_one_of,
            }
        }


class Custom(EntityCheck):
    """A custom rule: ``fn(row) -> message | {field: message} | None``.

    A string goes to ``@entity``; a dict is merged into the field errors.
    """

    name = "custom_entity_check"

    def __init__(
        self, fn: Callable[[Mapping[str, Any]], Any], field_sources: Iterable[str] = ()
    ) -> None:
        super().__init__(field_sources)
        self.fn = fn

    def run(
        self,
        row: Mapping[str, Any],
        schema_fields: Mapping[str, Any],
        errors: dict[str, Any],
    ) -> None:
        result = self.fn(row)
        if not result:
            return
        if isinstance(result, str):
            add_entity_error(errors, result)
            return
        for key, value in result.items():
            if key == ENTITY:
                for message in value:
                    add_entity_error(errors, message)
            else:
                set_path_error(errors, key, value)

    def to_json(self) -> dict[str, Any]:
        return {self.name: {"field_sources": list(self.fields)}}


def run_checks(
    checks: Iterable[EntityCheck],
    row: Mapping[str, Any],
    schema_fields: Mapping[str, Any],
    errors: dict[str, Any],
) -> None:
    """Run ``checks`` over ``row``, skipping those whose fields already failed."""
    for check in checks:
        if any(_has_error(errors, f) for f in check.involved()):
            continue
        check.run(row, schema_fields, errors)
