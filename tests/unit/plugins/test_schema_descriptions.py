"""Every config field of every bundled plugin carries a description, shown by /schemas/plugins."""

from __future__ import annotations

from typing import Any

from kongtx.plugins.base import bundled_plugins, load_plugins
from kongtx.schema import registry


def _undescribed(field: Any, path: str) -> list[str]:
    missing = [] if getattr(field, "description", None) else [path]
    sub = getattr(field, "fields", None)
    if sub:
        for name, child in sub.items():
            missing += _undescribed(child, f"{path}.{name}")
    elements = getattr(field, "elements", None)
    if elements is not None and getattr(elements, "fields", None):
        for name, child in elements.fields.items():
            missing += _undescribed(child, f"{path}[].{name}")
    values = getattr(field, "values", None)
    if values is not None and getattr(values, "fields", None):
        for name, child in values.fields.items():
            missing += _undescribed(child, f"{path}{{}}.{name}")
    return missing


def test_every_plugin_field_has_a_description() -> None:
    load_plugins(["bundled"])
    missing = []
    for name in bundled_plugins():
        config = registry.plugin_schema(name).config
        for field_name, field in config.fields.items():
            missing += _undescribed(field, f"{name}: {field_name}")
    assert missing == []


def test_descriptions_are_served_with_the_schema() -> None:
    load_plugins(["bundled"])
    described = registry.plugin_schema("key-auth").config.fields["key_names"].to_json()
    assert "header, query argument or body field" in described["description"]
