"""``acl`` (Kong's ``kong/plugins/acl/handler.lua``, priority 950).

The groups checked are the authenticated consumer's ``acls`` rows (through the
entity cache, ``acls:<consumer id>:::::``), or the
groups another plugin authenticated (``ctx.authenticated_groups``) when there
is no consumer, when the consumer is the anonymous one (no credential), or
always with ``always_use_authenticated_groups``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from twisted.internet.defer import Deferred

from kongtx import KONG_COMPAT_VERSION
from kongtx.cache import Entities, Lookup, then
from kongtx.errors import ProxyExit
from kongtx.plugins import authn
from kongtx.plugins.base import PluginHandler, ProxyContext

__all__ = [
    "AclConfig",
    "AclHandler",
    "authenticated_groups",
    "blocked",
    "consumer_groups",
    "prepare",
]

FORBIDDEN = "You cannot consume this service"


@dataclass(frozen=True)
class AclConfig:
    """A plugin config digested once."""

    deny: bool
    groups: frozenset[str]
    hide_groups_header: bool
    always_use_authenticated_groups: bool


def prepare(conf: dict[str, Any]) -> AclConfig:
    """Digest an ``acl`` config (``deny`` wins the type when it is non-empty, as in Kong)."""
    deny = conf.get("deny") or ()
    return AclConfig(
        deny=bool(deny),
        groups=frozenset(deny if deny else conf.get("allow") or ()),
        hide_groups_header=bool(conf.get("hide_groups_header", False)),
        always_use_authenticated_groups=bool(conf.get("always_use_authenticated_groups", False)),
    )


def blocked(cfg: AclConfig, groups: tuple[str, ...]) -> bool:
    """allow: blocked unless a group is listed; deny: blocked if any group is listed."""
    in_group = not cfg.groups.isdisjoint(groups)
    return in_group if cfg.deny else not in_group


def authenticated_groups(ctx: ProxyContext) -> tuple[str, ...] | None:
    """Groups set by an authenticating plugin (``ctx.shared`` first, as Kong's ``kong.ctx.shared``)."""
    groups = ctx.shared.get("authenticated_groups")
    if not isinstance(groups, (list, tuple)):
        groups = getattr(ctx, "authenticated_groups", None)
        if not isinstance(groups, (list, tuple)):
            return None
    return tuple(str(g) for g in groups)


class AclHandler(PluginHandler):
    """The ``acl`` plugin."""

    name = "acl"
    priority = 950
    version = KONG_COMPAT_VERSION

    def compile(self, conf: dict[str, Any], plugin: Mapping[str, Any] | None = None) -> Any:
        """Digest one configuration (once, in the snapshot)."""
        return prepare(conf)

    def access(self, ctx: ProxyContext, conf: dict[str, Any]) -> Deferred[None] | None:
        """Let the request through, or answer 401/403."""
        cfg = self.compiled(conf)
        consumer = ctx.consumer
        if consumer is None:
            groups = authenticated_groups(ctx)
            if groups is None:
                if ctx.credential is not None:
                    raise ProxyExit(403, FORBIDDEN)
                raise ProxyExit(401, "Unauthorized")
            _check(ctx, cfg, authn.AUTHENTICATED_GROUPS, groups)
            return None
        if ctx.credential is None or cfg.always_use_authenticated_groups:
            groups = authenticated_groups(ctx)
            if groups is not None:
                _check(ctx, cfg, authn.AUTHENTICATED_GROUPS, groups)
                return None
        return then(
            consumer_groups(ctx.entities, consumer["id"]),
            partial(_check, ctx, cfg, authn.CONSUMER_GROUPS),
        )


def consumer_groups(entities: Entities, consumer_id: str) -> Lookup:
    """A consumer's groups in storage order, through the entity cache (``acls:<id>:::::``):
    a tuple on a cache hit, else a Deferred firing with it."""
    return then(
        entities.consumer_rows("acls", consumer_id), lambda rows: tuple(r["group"] for r in rows)
    )


def _check(ctx: ProxyContext, cfg: AclConfig, header: str, groups: tuple[str, ...]) -> None:
    if blocked(cfg, groups):
        raise ProxyExit(403, FORBIDDEN)
    headers = ctx.request.headers
    if cfg.hide_groups_header or not groups:
        # Never forward a client-supplied copy in place of the groups header.
        headers.remove(header)
    else:
        headers.set(header, authn.header_value(", ".join(groups)))
