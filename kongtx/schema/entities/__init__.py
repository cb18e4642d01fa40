"""Kong's core entities, built fresh by :func:`core_entities` (parents first)."""

from __future__ import annotations

from kongtx.schema.entity import Entity


def core_entities() -> list[Entity]:
    """New instances of the core entities in registration order (parents first)."""
    from kongtx.schema.entities import (
        ca_certificates,
        certificates,
        consumers,
        plugins,
        routes,
        services,
        snis,
        targets,
        upstreams,
    )

    return [
        certificates.build(),
        ca_certificates.build(),
        snis.build(),
        services.build(),
        routes.build(),
        consumers.build(),
        upstreams.build(),
        targets.build(),
        plugins.build(),
    ]


__all__ = ["core_entities"]
