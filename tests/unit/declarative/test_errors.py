"""Kong's flattened declarative errors and one-line messages."""

from __future__ import annotations

import yaml

from kongtx.declarative import flatten, parse_text
from kongtx.declarative._errors import lua_compact
from kongtx.errors import InvalidDeclarativeConfig


def test_lua_compact_matches_kongs_messages():
    assert (
        lua_compact({"services": [{"port": "x", "host": "y"}]})
        == '{services={{host="y",port="x"}}}'
    )
    assert lua_compact({"a": [None, "b"]}) == '{a={[2]="b"}}'
    assert lua_compact({"@entity": ["m"]}) == '{["@entity"]={"m"}}'


def test_flattened_errors_hoist_nested_entities(registry):
    doc = """
_format_version: "3.0"
services:
- name: bad
  port: -1
  tags: [t]
  routes:
  - name: r
    paths: [nope]
    plugins:
    - name: cors
      config: {max_age: "x"}
"""
    try:
        parse_text(doc, registry, 1.0)
    except InvalidDeclarativeConfig as exc:
        rest, flat = flatten(exc.fields, yaml.safe_load(doc), registry)
    assert rest == {}
    by_type = {e["entity_type"]: e for e in flat}
    assert set(by_type) == {"service", "route", "plugin"}
    assert by_type["service"]["entity_name"] == "bad"
    assert by_type["service"]["entity_tags"] == ["t"]
    assert {"type": "field", "field": "host", "message": "required field missing"} in by_type[
        "service"
    ]["errors"]
    assert by_type["route"]["errors"] == [
        {
            "type": "field",
            "field": "paths.1",
            "message": "should start with: / (fixed path) or ~/ (regex path)",
        }
    ]
    assert "routes" not in by_type["service"]["entity"]  # children hoisted out
    assert by_type["plugin"]["errors"][0]["field"] == "config.max_age"


def test_entity_level_errors(registry):
    doc = '_format_version: "3.0"\nservices:\n- {name: s, protocol: tcp, host: h, path: /x}\n'
    try:
        parse_text(doc, registry, 1.0)
    except InvalidDeclarativeConfig as exc:
        _rest, flat = flatten(exc.fields, yaml.safe_load(doc), registry)
    kinds = {e["type"] for e in flat[0]["errors"]}
    assert "entity" in kinds
