"""The base :class:`Field` and the scalar types (string, integer, number, boolean).

A field validates one value and answers Kong's error structure: a message
string for a scalar, a list (``None`` where an element is fine) for array/set
elements, a dict for maps, records and foreign keys. ``None`` means valid.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

REQUIRED = "required field missing"
UNKNOWN = "unknown field"
IMMUTABLE = "immutable field cannot be updated"

Validator = Callable[[Any], "str | None"]

_UNSET: Any = object()
_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_INT_RE = re.compile(r"^[+-]?\d+$")
_FORM_TRUE = {"true": True, "false": False}


def is_uuid(value: Any) -> bool:
    """Return whether ``value`` is a UUID string (any version, Kong's check)."""
    return isinstance(value, str) and _UUID_RE.match(value) is not None


def _num(value: float) -> str:
    """Render a number as Lua's ``tostring`` would (``5`` not ``5.0``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _compile(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    return pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)


class Field:
    """Base field: the attributes shared by every type.

    :param required: ``None`` is refused with ``required field missing``.
    :param default: value filled in on insert when the field is missing/null.
    :param validators: callables ``value -> message | None`` run last.
    :param eq: the only accepted value; ``eq=None`` means "must be null".
    :param match_none: ``[(regex, message), ...]``, any match fails.
    :param match_all: ``[(regex, message), ...]``, each must match.
    :param match_any: ``(regexes, message)``, at least one must match.
    """

    type_name = "any"
    _ATTRS = (
        "required",
        "default",
        "unique",
        "one_of",
        "not_one_of",
        "between",
        "gt",
        "len_eq",
        "len_min",
        "len_max",
        "match",
        "match_none",
        "match_all",
        "match_any",
        "starts_with",
        "contains",
        "uuid",
        "auto",
        "immutable",
        "validators",
        "description",
        "eq",
        "timestamp",
        "abstract",
        "mutually_exclusive_subsets",
    )

    def __init__(
        self,
        *,
        required: bool = False,
        default: Any = None,
        unique: bool = False,
        one_of: Iterable[Any] | None = None,
        not_one_of: Iterable[Any] | None = None,
        between: tuple[float, float] | None = None,
        gt: float | None = None,
        len_eq: int | None = None,
        len_min: int | None = None,
        len_max: int | None = None,
        match: str | None = None,
        match_none: Iterable[tuple[str, str]] | None = None,
        match_all: Iterable[tuple[str, str]] | None = None,
        match_any: tuple[Iterable[str], str] | None = None,
        starts_with: str | None = None,
        contains: Any = None,
        uuid: bool = False,
        auto: bool = False,
        immutable: bool = False,
        validators: Iterable[Validator] = (),
        description: str | None = None,
        eq: Any = _UNSET,
        timestamp: bool = False,
        abstract: bool = False,
        mutually_exclusive_subsets: Iterable[Iterable[str]] | None = None,
    ) -> None:
        self.required = required
        self.default = default
        self.unique = unique
        self.one_of = list(one_of) if one_of is not None else None
        self.not_one_of = list(not_one_of) if not_one_of is not None else None
        self.between = tuple(between) if between is not None else None
        self.gt = gt
        self.len_eq, self.len_min, self.len_max = len_eq, len_min, len_max
        self.match = match
        self.match_none = list(match_none) if match_none else None
        self.match_all = list(match_all) if match_all else None
        self.match_any = (list(match_any[0]), match_any[1]) if match_any else None
        self.starts_with = starts_with
        self.contains = contains
        self.uuid = uuid
        self.auto = auto
        self.immutable = immutable
        self.validators = tuple(validators)
        self.description = description
        self.eq = eq
        self.timestamp = timestamp
        self.abstract = abstract
        self.mutually_exclusive_subsets = (
            [list(s) for s in mutually_exclusive_subsets] if mutually_exclusive_subsets else None
        )
        self._prepare()

    def _prepare(self) -> None:
        """Precompile regexes once (validation runs on every Admin API write)."""
        self._match_re = _compile(self.match) if self.match else None
        self._match_none = [(_compile(p), e) for p, e in self.match_none or ()]
        self._match_all = [(_compile(p), e) for p, e in self.match_all or ()]
        self._match_any = (
            ([_compile(p) for p in self.match_any[0]], self.match_any[1])
            if self.match_any
            else None
        )

    # -- construction helpers -------------------------------------------------
    def _kwargs(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._ATTRS}

    def derive(self, **overrides: Any) -> Field:
        """Return a copy with some attributes replaced (Kong's ``typedef { ... }``)."""
        new = copy.copy(self)
        for key, value in overrides.items():
            if key == "validators":
                value = tuple(value)
            setattr(new, key, value)
        new._prepare()
        return new

    __call__ = derive

    # -- validation -----------------------------------------------------------
    def validate(self, value: Any) -> Any:
        """Return Kong's error structure for ``value``, or ``None`` if valid."""
        if self.abstract:
            return None
        if self.eq is not _UNSET:
            if self.eq is None:
                return None if value is None else "value must be null"
            if value != self.eq:
                return "value must be %s" % (self.eq,)
        if value is None:
            return REQUIRED if self.required else None
        err = self._check_type(value)
        if err is not None:
            return err
        return self._check_rules(value)

    def _check_type(self, value: Any) -> Any:
        return None

    def _len_min(self) -> int | None:
        return self.len_min

    def _check_rules(self, value: Any) -> Any:
        if self.not_one_of is not None and value in self.not_one_of:
            return "must not be one of: " + ", ".join(
                _num(v) if not isinstance(v, str) else v for v in self.not_one_of
            )
        if self.one_of is not None and value not in self.one_of:
            return "expected one of: " + ", ".join(
                _num(v) if not isinstance(v, str) else v for v in self.one_of
            )
        if self.gt is not None and not value > self.gt:
            return "value must be greater than %s" % _num(self.gt)
        if self.uuid and not is_uuid(value):
            return "expected a valid UUID"
        if self.between is not None:
            low, high = self.between
            if not low <= value <= high:
                return "value should be between %s and %s" % (_num(low), _num(high))
        if isinstance(value, (str, list, dict)):
            length = len(value)
            if self.len_eq is not None and length != self.len_eq:
                return "length must be %d" % self.len_eq
            len_min = self._len_min()
            if len_min is not None and length < len_min:
                return "length must be at least %d" % len_min
            if self.len_max is not None and length > self.len_max:
                return "length must be at most %d" % self.len_max
        if isinstance(value, str):
            if self._match_re is not None and not self._match_re.search(value):
                return "invalid value: " + value
            for regex, message in self._match_all:
                if not regex.search(value):
                    return message or "invalid value: " + value
            for regex, message in self._match_none:
                if regex.search(value):
                    return message or "invalid value: " + value
            if self._match_any is not None:
                regexes, message = self._match_any
                if not any(r.search(value) for r in regexes):
                    return message or "invalid value: " + value
            if self.starts_with is not None and not value.startswith(self.starts_with):
                return "should start with: " + self.starts_with
        if self.contains is not None and self.contains not in value:
            return "expected to contain: %s" % (self.contains,)
        if self.mutually_exclusive_subsets:
            err = _mutually_exclusive_subsets(value, self.mutually_exclusive_subsets)
            if err:
                return err
        err = self._check_children(value)
        if err is not None:
            return err
        for validator in self.validators:
            problem = validator(value)
            if problem:
                return problem
        return None

    def _check_children(self, value: Any) -> Any:
        return None

    # -- input handling -------------------------------------------------------
    def coerce_form(self, value: Any) -> Any:
        """Infer the type of a form/multipart value (strings in, typed out)."""
        if value == "":
            return None
        return value

    def normalize(self, value: Any) -> Any:
        """Canonicalize a value (sets lose duplicates); returns the same or a new value."""
        return value

    def to_json(self) -> dict[str, Any]:
        """Kong's JSON description of this field (``GET /schemas/...``)."""
        out: dict[str, Any] = {"type": self.type_name}
        for name in ("required", "unique", "uuid", "auto", "immutable", "timestamp"):
            if getattr(self, name):
                out[name] = True
        if self.default is not None:
            out["default"] = copy.deepcopy(self.default)
        for name in (
            "one_of",
            "not_one_of",
            "gt",
            "len_eq",
            "len_min",
            "len_max",
            "match",
            "starts_with",
            "contains",
            "description",
        ):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.between is not None:
            out["between"] = list(self.between)
        if self.match_none:
            out["match_none"] = [{"pattern": p, "err": e} for p, e in self.match_none]
        if self.match_all:
            out["match_all"] = [{"pattern": p, "err": e} for p, e in self.match_all]
        if self.match_any:
            out["match_any"] = {"patterns": self.match_any[0], "err": self.match_any[1]}
        if self.mutually_exclusive_subsets:
            out["mutually_exclusive_subsets"] = self.mutually_exclusive_subsets
        if self.eq is not _UNSET:
            out["eq"] = self.eq
        return out

    def __repr__(self) -> str:
        return "<%s %s>" % (type(self).__name__, self.to_json())


def _mutually_exclusive_subsets(value: list[Any], subsets: list[list[str]]) -> str | None:
    owner = {el: i for i, subset in enumerate(subsets) for el in subset}
    seen: list[int] = []
    for element in value:
        idx = owner.get(element)
        if idx is not None and idx not in seen:
            seen.append(idx)
    if len(seen) <= 1:
        return None
    parts = ["(" + ", ".join("'%s'" % el for el in subsets[i]) + ")" for i in seen]
    return "these sets are mutually exclusive: " + ", ".join(parts)


class String(Field):
    """A string; empty strings are refused unless ``len_min=0`` (Kong's rule)."""

    type_name = "string"

    def _check_type(self, value: Any) -> Any:
        return None if isinstance(value, str) else "expected a string"

    def _len_min(self) -> int | None:
        return 1 if self.len_min is None else self.len_min


def _form_number(value: Any) -> Any:
    """Form text as a number: blank is ``None``, digits an int, else a float; unparsable text is kept."""
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        if _INT_RE.match(text):
            return int(text)
        try:
            return float(text)
        except ValueError:
            return value
    return value


class Integer(Field):
    """An integer (booleans are not integers)."""

    type_name = "integer"

    def _check_type(self, value: Any) -> Any:
        if isinstance(value, bool):
            return "expected an integer"
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return None
        return "expected an integer"

    def coerce_form(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        number = _form_number(value)
        return int(number) if isinstance(number, float) and number.is_integer() else number


class Number(Field):
    """A number (int or float)."""

    type_name = "number"

    def _check_type(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "expected a number"
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            return "expected a number"
        return None

    def coerce_form(self, value: Any) -> Any:
        return _form_number(value)


class Boolean(Field):
    """A boolean."""

    type_name = "boolean"

    def _check_type(self, value: Any) -> Any:
        return None if isinstance(value, bool) else "expected a boolean"

    def coerce_form(self, value: Any) -> Any:
        if isinstance(value, str):
            if value == "":
                return None
            return _FORM_TRUE.get(value.lower(), value)
        return value
