"""Rows back to a declarative document (``kongtx config db_export``, ``GET /config``).

As Kong's export: ``_format_version: "3.0"``, ``_transform: false``, one flat
list per entity in registry order (parents first), foreign keys as plain id
strings, ``null`` fields and transient fields left out, rows in id order.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["dump_yaml", "export_document"]


def export_document(rows: dict[str, list[dict[str, Any]]], registry: Any) -> dict[str, Any]:
    """A 3.0 document holding ``rows`` (``{entity: [row]}`` as the DAO returns them)."""
    document: dict[str, Any] = {"_format_version": "3.0", "_transform": False}
    for ent in registry.all():
        entity_rows = rows.get(ent.name)
        if not entity_rows:
            continue
        foreign = ent.foreign_fields()
        skip = set(ent.transient_fields)
        out = []
        for row in sorted(entity_rows, key=lambda r: str(r.get("id"))):
            item: dict[str, Any] = {}
            for key, value in row.items():
                if value is None or key in skip or key.startswith("_"):
                    continue
                if key in foreign and isinstance(value, dict):
                    value = value.get("id")
                item[key] = value
            out.append(item)
        document[ent.name] = out
    return document


_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when installed


def dump_yaml(document: dict[str, Any]) -> str:
    """``document`` as block-style YAML (key order kept), as Kong writes it."""
    return yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
