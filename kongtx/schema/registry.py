"""The registry of entities and plugin config schemas.

The module-level functions work on the process-wide default registry, which
holds Kong's core entities (parents first); plugin packages add their
credential entities with :func:`register` and their config with
:func:`register_plugin_schema`. Tests may build a private :class:`Registry`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as _dc_field
from typing import Any

from kongtx.schema import typedefs
from kongtx.schema.entity import Entity, Subschema
from kongtx.schema.fields import Field, Record, Set, String


@dataclass
class PluginSchema:
    """A plugin's schema: its ``config`` record plus scoping and protocols."""

    name: str
    config: Record
    protocols: list[str] | None = None
    no_consumer: bool = False
    no_route: bool = False
    no_service: bool = False
    entity_checks: list[Any] = _dc_field(default_factory=list)
    shorthands: list[Any] = _dc_field(default_factory=list)

    def field_overrides(self) -> dict[str, Field]:
        """The plugins-entity fields this plugin specializes."""
        out: dict[str, Field] = {}
        if self.no_consumer:
            out["consumer"] = typedefs.no_consumer()
        if self.no_route:
            out["route"] = typedefs.no_route()
        if self.no_service:
            out["service"] = typedefs.no_service()
        if self.protocols is None:
            out["protocols"] = typedefs.protocols_http()
        else:
            out["protocols"] = Set(
                String(one_of=typedefs.PROTOCOLS),
                required=True,
                default=list(self.protocols),
            )
        out["config"] = self.config.derive(required=True)
        return out

    def subschema(self) -> Subschema:
        """The :class:`Subschema` installed on the plugins entity."""
        return Subschema(
            self.name, self.field_overrides(), list(self.entity_checks), list(self.shorthands)
        )

    def to_schema_json(self) -> dict[str, Any]:
        """Kong's ``GET /schemas/plugins/{name}`` body."""
        out: dict[str, Any] = {
            "fields": [{n: f.to_json()} for n, f in self.field_overrides().items()]
        }
        if self.entity_checks:
            out["entity_checks"] = [c.to_json() for c in self.entity_checks]
        return out

    def config_schema_json(self) -> dict[str, Any]:
        """Kong's deprecated ``GET /plugins/schema/{name}`` body (the config record)."""
        return self.config.derive(required=True).to_json()


class Registry:
    """Entities by name, in registration order, and plugin schemas."""

    def __init__(self) -> None:
        self._entities: dict[str, Entity] = {}
        self._plugins: dict[str, PluginSchema] = {}
        self._enabled: set[str] | None = None

    # -- entities -------------------------------------------------------------
    def register(self, entity: Entity) -> Entity:
        """Add ``entity``; its foreign references must already be registered.

        :raises ValueError: on a duplicate name or an unknown reference.
        """
        if entity.name in self._entities:
            raise ValueError("entity %r already registered" % entity.name)
        for fname, foreign in entity.foreign_fields().items():
            if foreign.reference not in self._entities and foreign.reference != entity.name:
                raise ValueError(
                    "%s.%s references unregistered entity %r"
                    % (entity.name, fname, foreign.reference)
                )
        self._entities[entity.name] = entity
        if entity.name == "plugins":
            entity.subschema_enabled = self.is_plugin_enabled
            for plugin in self._plugins.values():
                entity.add_subschema(plugin.subschema())
        return entity

    def unregister(self, name: str) -> None:
        """Remove an entity (tests and plugin reloads)."""
        del self._entities[name]

    def get(self, name: str) -> Entity:
        """The entity called ``name``.

        :raises KeyError: if unknown.
        """
        return self._entities[name]

    def all(self) -> list[Entity]:
        """Every entity, parents before children."""
        return list(self._entities.values())

    def has(self, name: str) -> bool:
        """Whether an entity called ``name`` is registered."""
        return name in self._entities

    def __contains__(self, name: object) -> bool:
        return name in self._entities

    def by_admin_path(self, path: str) -> Entity | None:
        """The entity whose top-level Admin API path is ``path`` (``/key-auths``)."""
        for entity in self._entities.values():
            if entity.admin_path == path:
                return entity
        return None

    # -- plugins --------------------------------------------------------------
    def register_plugin_schema(
        self,
        name: str,
        config_record: Record,
        *,
        protocols: Iterable[str] | None = None,
        no_consumer: bool = False,
        no_route: bool = False,
        no_service: bool = False,
        entity_checks: Iterable[Any] = (),
        shorthands: Iterable[Any] = (),
    ) -> PluginSchema:
        """Declare plugin ``name``'s config record and scoping rules.

        ``entity_checks`` run on the whole plugin row (dotted names such as
        ``config.second`` reach into the config); ``shorthands`` are
        ``(row, op) -> row`` input rewriters (Kong's shorthand fields).
        """
        if not isinstance(config_record, Record):
            raise TypeError("config_record must be a Record")
        plugin = PluginSchema(
            name,
            config_record,
            list(protocols) if protocols is not None else None,
            no_consumer,
            no_route,
            no_service,
            list(entity_checks),
            list(shorthands),
        )
        self._plugins[name] = plugin
        plugins_entity = self._entities.get("plugins")
        if plugins_entity is not None:
            plugins_entity.add_subschema(plugin.subschema())
        return plugin

    def set_enabled_plugins(self, names: Iterable[str] | None) -> None:
        """Restrict the usable plugins to ``names``; ``None`` enables every registered one."""
        self._enabled = set(names) if names is not None else None

    def enabled_set(self) -> frozenset[str] | None:
        """The names last given to :meth:`set_enabled_plugins` (``None``: every registered one)."""
        return frozenset(self._enabled) if self._enabled is not None else None

    def is_plugin_enabled(self, name: str) -> bool:
        """Whether ``name`` is registered and enabled."""
        return name in self._plugins and (self._enabled is None or name in self._enabled)

    def enabled_plugins(self) -> list[str]:
        """Sorted names of the registered, enabled plugins."""
        return sorted(n for n in self._plugins if self.is_plugin_enabled(n))

    def plugin_schema(self, name: str) -> PluginSchema:
        """The registered schema of plugin ``name`` (enabled or not).

        :raises KeyError: if unknown.
        """
        return self._plugins[name]

    def plugin_schemas(self) -> dict[str, PluginSchema]:
        """Every registered plugin schema by name."""
        return dict(self._plugins)


def new_registry() -> Registry:
    """A registry holding fresh copies of Kong's core entities."""
    from kongtx.schema.entities import core_entities

    reg = Registry()
    for entity in core_entities():
        reg.register(entity)
    return reg


default_registry = new_registry()

register = default_registry.register
unregister = default_registry.unregister
get = default_registry.get
has = default_registry.has
all = default_registry.all
by_admin_path = default_registry.by_admin_path
register_plugin_schema = default_registry.register_plugin_schema
set_enabled_plugins = default_registry.set_enabled_plugins
enabled_set = default_registry.enabled_set
is_plugin_enabled = default_registry.is_plugin_enabled
enabled_plugins = default_registry.enabled_plugins
plugin_schema = default_registry.plugin_schema
plugin_schemas = default_registry.plugin_schemas
