"""Unit tests for kongtx.schema.entity and kongtx.schema.checks."""

from __future__ import annotations

import pytest

from kongtx.errors import SchemaViolation
from kongtx.schema.checks import (
    AtLeastOneOf,
    Conditional,
    ConditionalAtLeastOneOf,
    Custom,
    Distinct,
    MutuallyExclusive,
    MutuallyRequired,
    OnlyOneOf,
)
from kongtx.schema.entity import Entity, format_violation
from kongtx.schema.fields import Array, Foreign, Integer, Record, String


def make(**kwargs):
    """A small credential-like entity."""
    fields = {
        "consumer": Foreign("consumers", required=True, on_delete="cascade"),
        "key": String(unique=True, auto=True),
        "conf": Record(
            {"a": Integer(default=1), "b": Array(String(), default=["x"])},
            required=True,
        ),
        "lock": String(immutable=True),
    }
    return Entity(
        "keyauth_credentials",
        fields,
        admin_path="/key-auths",
        admin_nested_name="key-auth",
        endpoint_key="key",
        ttl=True,
        **kwargs,
    )


def errors_of(entity, row):
    with pytest.raises(SchemaViolation) as info:
        entity.validate(row)
    return info.value


def test_format_single_and_many():
    """One error vs n errors, @entity first then fields sorted, one level flattened."""
    assert format_violation({"name": "required field missing"}) == (
        "schema violation (name: required field missing)"
    )
    msg = format_violation(
        {
            "zeta": "z",
            "config": {"minute": "expected a number"},
            "@entity": ["e1"],
            "alpha": "a",
        }
    )
    assert msg == ("4 schema violations (e1; alpha: a; config.minute: expected a number; zeta: z)")


def test_format_arrays_are_one_based_and_deep_tables_pretty():
    """Array errors use Lua indexes; deeper tables are pretty-printed as Kong does."""
    assert format_violation({"paths": [None, "bad"]}) == "schema violation (paths.2: bad)"
    assert format_violation({"config": {"redis": {"host": "required field missing"}}}) == (
        'schema violation (config.redis: {\n  host = "required field missing"\n})'
    )


def test_entity_defaults_structure():
    """id/created_at are prepended, tags appended, attributes set."""
    ent = make()
    assert list(ent.fields)[:2] == ["id", "created_at"]
    assert list(ent.fields)[-1] == "tags"
    assert ent.admin_path == "/key-auths" and ent.admin_nested_name == "key-auth"
    assert ent.table == "keyauth_credentials" and ent.primary_key == "id"
    assert ent.unique_fields() == ["key"]
    assert list(ent.foreign_fields()) == ["consumer"]
    assert ent.foreign_fields()["consumer"].on_delete == "cascade"
    assert ent.ttl and ent.cache_key is None


def test_fill_defaults_generates_auto_values():
    """fill_defaults sets uuid, timestamps, auto strings and record defaults."""
    ent = make(updated_at=True)
    row = ent.fill_defaults(
        {"consumer": {"id": "5a2e5e2a-7c1e-4f0a-9a7e-0a4b2f4c1d11"}}, 1700000000.7
    )
    assert len(row["id"]) == 36 and row["created_at"] == 1700000000
    assert row["updated_at"] == 1700000000
    assert len(row["key"]) == 32 and row["key"].isalnum()
    assert row["conf"] == {"a": 1, "b": ["x"]}
    assert row["tags"] is None and row["lock"] is None
    ent.validate(row)
    again = ent.fill_defaults(row, 1700000100.0)
    assert again["id"] == row["id"] and again["created_at"] == row["created_at"]
    assert again["updated_at"] == 1700000100


def test_fill_defaults_ms_timestamps():
    """timestamp_ms entities store float seconds with millisecond precision."""
    ent = Entity("things", {}, timestamp_ms=True, updated_at=True)
    row = ent.fill_defaults({}, 1700000000.123456)
    assert row["created_at"] == 1700000000.123 and row["updated_at"] == 1700000000.123


def test_unknown_field_and_ttl_transient_ignored():
    """Unknown keys are refused; ttl (when enabled) and transient fields are not."""
    ent = make(transient_fields=["extra"])
    row = ent.fill_defaults({"consumer": {"id": "5a2e5e2a-7c1e-4f0a-9a7e-0a4b2f4c1d11"}}, 1)
    ent.validate({**row, "ttl": 5, "extra": [1]})
    err = errors_of(ent, {**row, "bogus": 1})
    assert err.fields == {"bogus": "unknown field"}
    assert err.message == "schema violation (bogus: unknown field)"
    assert err.to_body()["code"] == 2


def test_merge_update_records_merge_arrays_replace():
    """PATCH merges records recursively and replaces arrays."""
    ent = make()
    old = {"conf": {"a": 1, "b": ["x", "y"]}, "key": "k"}
    assert ent.merge_update(old, {"conf": {"b": ["z"]}}) == {
        "conf": {"a": 1, "b": ["z"]},
        "key": "k",
    }
    assert ent.merge_update(old, {"key": None}) == {"conf": old["conf"], "key": None}


def test_merge_update_immutable():
    """Changing an immutable field is refused; setting it the first time is not."""
    ent = make()
    with pytest.raises(SchemaViolation) as info:
        ent.merge_update({"lock": "a"}, {"lock": "b"})
    assert info.value.fields == {"lock": "immutable field cannot be updated"}
    assert ent.merge_update({"lock": None}, {"lock": "b"}) == {"lock": "b"}


def test_coerce_form_and_process_input():
    """Forms are typed by the schema; process_input dedups sets and checks op."""
    ent = Entity("x", {"n": Integer(), "conf": Record({"a": Integer()})})
    assert ent.coerce_form({"n": "3", "conf": {"a": "4"}, "tags": "t"}) == {
        "n": 3,
        "conf": {"a": 4},
        "tags": ["t"],
    }
    assert ent.process_input({"tags": ["a", "a"]}, "insert") == {"tags": ["a"]}
    with pytest.raises(ValueError):
        ent.process_input({}, "delete")


def _row_checks(check, row, fields=None):
    ent = Entity(
        "c",
        fields or {"a": String(), "b": String(), "c": Integer()},
        id=False,
        created_at=False,
        tags=False,
        entity_checks=[check],
    )
    return ent.errors(row)


@pytest.mark.parametrize(
    "check, row, message",
    [
        (
            AtLeastOneOf(["a", "b"]),
            {},
            "at least one of these fields must be non-empty: 'a', 'b'",
        ),
        (
            OnlyOneOf(["a", "b"]),
            {"a": "x", "b": "y"},
            "exactly one of these fields must be non-empty: 'a', 'b'",
        ),
        (
            OnlyOneOf(["a", "b"]),
            {},
            "exactly one of these fields must be non-empty: 'a', 'b'",
        ),
        (
            MutuallyRequired(["a", "b"]),
            {"a": "x"},
            "all or none of these fields must be set: 'a', 'b'",
        ),
        (
            MutuallyExclusive(["a", "b"]),
            {"a": "x", "b": "y"},
            "only one or none of these fields must be set: 'a', 'b'",
        ),
        (
            Distinct(["a", "b"]),
            {"a": "x", "b": "x"},
            "values of these fields must be distinct: 'a', 'b'",
        ),
        (
            ConditionalAtLeastOneOf("c", {"one_of": [1]}, ["a", "b"]),
            {"c": 1},
            "at least one of these fields must be non-empty: 'a', 'b'",
        ),
        (
            Custom(lambda row: "nope" if row.get("a") == "bad" else None, ["a"]),
            {"a": "bad"},
            "nope",
        ),
    ],
)
def test_entity_check_messages(check, row, message):
    """Each entity check reports Kong's @entity message."""
    assert _row_checks(check, row) == {"@entity": [message]}


@pytest.mark.parametrize(
    "check, row",
    [
        (AtLeastOneOf(["a", "b"]), {"b": "y"}),
        (OnlyOneOf(["a", "b"]), {"a": "x"}),
        (MutuallyRequired(["a", "b"]), {}),
        (MutuallyExclusive(["a", "b"]), {"a": "x"}),
        (Distinct(["a", "b"]), {"a": "x", "b": None}),
        (ConditionalAtLeastOneOf("c", {"one_of": [1]}, ["a", "b"]), {"c": 2}),
    ],
)
def test_entity_checks_pass(check, row):
    """Satisfied checks add nothing."""
    assert _row_checks(check, row) == {}


def test_conditional_sets_field_error_and_entity_error():
    """A failed conditional flags the field and @entity."""
    check = Conditional("a", {"match": "^header$"}, "b", {"required": True})
    assert _row_checks(check, {"a": "header"}) == {
        "b": "required field missing",
        "@entity": ["failed conditional validation given value of field 'a'"],
    }
    assert _row_checks(check, {"a": "none"}) == {}
    custom = Conditional("a", {"one_of": ["x"]}, "c", {"between": [1, 2]}, then_err="custom")
    assert _row_checks(custom, {"a": "x", "c": 5}) == {
        "c": "value should be between 1 and 2",
        "@entity": ["custom"],
    }


def test_checks_skip_when_a_field_failed():
    """A check is not run when one of its fields already has an error."""
    assert _row_checks(AtLeastOneOf(["a", "c"]), {"c": "x"}) == {"c": "expected an integer"}


def test_custom_check_may_return_field_errors():
    """A custom check returning a dict merges field errors (dotted paths nest)."""
    check = Custom(lambda row: {"a": "bad a", "@entity": ["e"]})
    assert _row_checks(check, {}) == {"a": "bad a", "@entity": ["e"]}


def test_to_schema_json():
    """to_schema_json lists fields in order and the entity checks."""
    ent = Entity(
        "c",
        {"username": String(unique=True)},
        updated_at=True,
        entity_checks=[AtLeastOneOf(["username"])],
    )
    body = ent.to_schema_json()
    assert [list(f)[0] for f in body["fields"]] == [
        "id",
        "created_at",
        "updated_at",
        "username",
        "tags",
    ]
    assert body["fields"][0] == {"id": {"type": "string", "uuid": True, "auto": True}}
    assert body["fields"][3] == {"username": {"type": "string", "unique": True}}
    assert body["entity_checks"] == [{"at_least_one_of": ["username"]}]
    assert "entity_checks" not in Entity("d", {}).to_schema_json()
