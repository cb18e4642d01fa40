"""Unit tests for kongtx.schema.fields."""

from __future__ import annotations

import pytest

from kongtx.schema.checks import AtLeastOneOf
from kongtx.schema.fields import (
    Array,
    Boolean,
    Foreign,
    Integer,
    Map,
    Number,
    Record,
    Set,
    String,
)

UUID = "5a2e5e2a-7c1e-4f0a-9a7e-0a4b2f4c1d11"


@pytest.mark.parametrize(
    "field, value, message",
    [
        (String(), 5, "expected a string"),
        (Integer(), "5", "expected an integer"),
        (Integer(), True, "expected an integer"),
        (Integer(), 1.5, "expected an integer"),
        (Number(), "x", "expected a number"),
        (Number(), False, "expected a number"),
        (Boolean(), "true", "expected a boolean"),
        (Array(String()), "a", "expected an array"),
        (Set(String()), {"a": 1}, "expected a set"),
        (Map(String(), String()), [], "expected a map"),
        (Record({}), "x", "expected a record"),
        (Foreign("services"), "x", "expected a record"),
    ],
)
def test_type_messages(field, value, message):
    """Each type refuses other types with Kong's message."""
    assert field.validate(value) == message


def test_accepts_matching_types():
    """Valid values of each type produce no error."""
    assert String().validate("a") is None
    assert Integer().validate(3) is None
    assert Integer().validate(3.0) is None
    assert Number().validate(2.5) is None
    assert Boolean().validate(False) is None
    assert Foreign("services").validate({"id": UUID}) is None


def test_required_and_null():
    """Null is fine unless required."""
    assert String().validate(None) is None
    assert String(required=True).validate(None) == "required field missing"


def test_empty_string_refused_by_default():
    """Strings have an implicit len_min of 1, as in Kong."""
    assert String().validate("") == "length must be at least 1"
    assert String(len_min=0).validate("") is None


@pytest.mark.parametrize(
    "field, value, message",
    [
        (Integer(between=(0, 10)), 11, "value should be between 0 and 10"),
        (Number(gt=0), 0, "value must be greater than 0"),
        (String(one_of=["a", "b"]), "c", "expected one of: a, b"),
        (Integer(one_of=[426, 301]), 200, "expected one of: 426, 301"),
        (String(not_one_of=["x", "y"]), "x", "must not be one of: x, y"),
        (String(len_min=3), "ab", "length must be at least 3"),
        (String(len_max=2), "abc", "length must be at most 2"),
        (Array(String(), len_eq=0), ["a"], "length must be 0"),
        (String(match=r"^[A-Z]+$"), "get", "invalid value: get"),
        (String(starts_with="/"), "a", "should start with: /"),
        (String(uuid=True), "nope", "expected a valid UUID"),
        (
            String(match_none=[("//", "must not have empty segments")]),
            "/a//b",
            "must not have empty segments",
        ),
        (String(match_any=((r"^a", r"^b"), "bad start")), "c", "bad start"),
        (String(match_all=[(r"a", "needs a"), (r"b", "needs b")]), "a", "needs b"),
        (Array(String(), contains="x"), ["y"], "expected to contain: x"),
        (Foreign("consumers", eq=None), {"id": UUID}, "value must be null"),
    ],
)
def test_rule_messages(field, value, message):
    """Every attribute answers with Kong's message."""
    assert field.validate(value) == message


def test_custom_validators_run_after_rules():
    """A custom validator's message is returned; None means valid."""
    field = String(validators=[lambda v: "no x" if "x" in v else None])
    assert field.validate("axb") == "no x"
    assert field.validate("ab") is None


def test_mutually_exclusive_subsets_message():
    """Mixed subsets are named in order of appearance."""
    field = Set(String(), mutually_exclusive_subsets=[["http", "https"], ["tcp", "tls", "udp"]])
    assert field.validate(["http", "tcp"]) == (
        "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp')"
    )
    assert field.validate(["http", "https"]) is None


def test_array_element_errors_are_positional():
    """Array errors are a list with None for valid elements."""
    field = Array(Integer(between=(1, 5)))
    assert field.validate([1, 9, 2, "x"]) == [
        None,
        "value should be between 1 and 5",
        None,
        "expected an integer",
    ]


def test_map_errors_by_key():
    """Map values are validated per key."""
    field = Map(String(), Array(String()))
    assert field.validate({"a": ["x"], "b": "y"}) == {"b": "expected an array"}


def test_record_nested_errors_and_unknown_fields():
    """Records report sub-field errors, unknown keys and their entity checks."""
    rec = Record({"a": Integer(), "b": String()}, entity_checks=[AtLeastOneOf(["a", "b"])])
    # the check is skipped because one of its fields already failed
    assert rec.validate({"a": "x", "zz": 1}) == {
        "a": "expected an integer",
        "zz": "unknown field",
    }
    assert rec.validate({}) == {
        "@entity": ["at least one of these fields must be non-empty: 'a', 'b'"]
    }
    assert rec.validate({"b": "ok"}) is None


def test_foreign_key_shape():
    """A foreign value is {"id": uuid}."""
    field = Foreign("services")
    assert field.validate({"id": "x"}) == {"id": "expected a valid UUID"}
    assert field.validate({"name": "s"}) == {
        "name": "unknown field",
        "id": "required field missing",
    }


def test_set_normalize_drops_duplicates():
    """Sets keep the first occurrence of each element."""
    assert Set(String()).normalize(["a", "b", "a"]) == ["a", "b"]
    assert Array(String()).normalize(["a", "a"]) == ["a", "a"]


@pytest.mark.parametrize(
    "field, raw, expected",
    [
        (Integer(), "5", 5),
        (Integer(), "x", "x"),
        (Number(), "1.5", 1.5),
        (Boolean(), "true", True),
        (Boolean(), "false", False),
        (String(), "", None),
        (Integer(), "", None),
        (Array(String()), "a", ["a"]),
        (Array(Integer()), ["1", "2"], [1, 2]),
        (Set(String()), {"2": "b", "1": "a"}, ["a", "b"]),
        (
            Record({"minute": Integer(), "on": Boolean()}),
            {"minute": "5", "on": "false"},
            {"minute": 5, "on": False},
        ),
        (Map(String(), Array(String())), {"h": "v"}, {"h": ["v"]}),
    ],
)
def test_coerce_form(field, raw, expected):
    """Form strings are typed by the schema."""
    assert field.coerce_form(raw) == expected


def test_derive_keeps_original():
    """derive() returns a changed copy and leaves the original intact."""
    base = Integer(between=(0, 10))
    derived = base(default=3, required=True)
    assert derived.default == 3 and derived.required
    assert base.default is None and not base.required


def test_to_json_shapes():
    """to_json mirrors Kong's field description."""
    assert Integer(default=5, between=(0, 9)).to_json() == {
        "type": "integer",
        "default": 5,
        "between": [0, 9],
    }
    assert Array(String(), required=True).to_json() == {
        "type": "array",
        "required": True,
        "elements": {"type": "string"},
    }
    assert Foreign("services", on_delete="cascade").to_json() == {
        "type": "foreign",
        "reference": "services",
        "on_delete": "cascade",
    }
    assert Record({"a": Boolean(default=True)}).to_json() == {
        "type": "record",
        "fields": [{"a": {"type": "boolean", "default": True}}],
    }
    assert Map(String(), Integer()).to_json()["values"] == {"type": "integer"}
