"""The schema layer: field types, typedefs, entities and their registry.

``from kongtx.schema import registry`` gives the core entities
(``registry.get("services")``); see ``docs/internals.md``, "schema".
"""

from __future__ import annotations

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
from kongtx.schema.entity import Entity, Subschema, format_violation, random_string
from kongtx.schema.fields import (
    Array,
    Boolean,
    Field,
    Foreign,
    Integer,
    Map,
    Number,
    Record,
    Set,
    String,
)

__all__ = [
    "Array",
    "AtLeastOneOf",
    "Boolean",
    "Conditional",
    "ConditionalAtLeastOneOf",
    "Custom",
    "Distinct",
    "Entity",
    "Field",
    "Foreign",
    "Integer",
    "Map",
    "MutuallyExclusive",
    "MutuallyRequired",
    "Number",
    "OnlyOneOf",
    "Record",
    "Set",
    "String",
    "Subschema",
    "format_violation",
    "random_string",
]
