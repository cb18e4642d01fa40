"""``routes`` (Kong's ``routes.lua`` and ``routes_subschemas.lua``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kongtx.regex import router_regex_error
from kongtx.schema import typedefs
from kongtx.schema.checks import Conditional, Custom, is_nonempty
from kongtx.schema.entity import Entity
from kongtx.schema.fields import Boolean, Foreign, Integer, Set, String

_STREAM = "'tcp', 'tls', 'tls_passthrough' or 'udp'"
_SNI_PROTOCOLS = ["grpcs", "https", "tls", "tls_passthrough"]


def _must_set(fields: list[str], when: str) -> str:
    return "must set one of %s when 'protocols' is %s" % (
        ", ".join("'%s'" % f for f in fields),
        when,
    )


def _protocol_rules(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The per-protocol rules Kong keeps in route subschemas."""
    protocols = row.get("protocols") or []
    errors: dict[str, Any] = {}

    def forbid(field: str, when: str) -> None:
        if is_nonempty(row.get(field)) and field not in errors:
            errors[field] = "cannot set '%s' when 'protocols' is %s" % (field, when)

    def need(fields: list[str], when: str) -> None:
        if not any(is_nonempty(row.get(f)) for f in fields):
            errors.setdefault("@entity", []).append(_must_set(fields, when))

    if "http" in protocols or "https" in protocols:
        for field in ("sources", "destinations"):
            forbid(field, "'http' or 'https'")
        if "https" in protocols:
            need(["methods", "hosts", "headers", "paths", "snis"], "'https'")
        else:
            need(["methods", "hosts", "headers", "paths"], "'http'")
    elif "grpc" in protocols or "grpcs" in protocols:
        if row.get("strip_path") is True:
            errors["strip_path"] = "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'"
        for field in ("methods", "sources", "destinations"):
            forbid(field, "'grpc' or 'grpcs'")
        if "grpcs" in protocols:
            need(["hosts", "headers", "paths", "snis"], "'grpcs'")
        else:
            need(["hosts", "headers", "paths"], "'grpc'")
    elif any(p in protocols for p in ("tcp", "tls", "udp", "tls_passthrough")):
        for field in ("methods", "hosts", "paths", "headers"):
            forbid(field, _STREAM)
        if "tls_passthrough" in protocols:
            if not is_nonempty(row.get("snis")):
                errors.setdefault("@entity", []).append(
                    "must set snis when 'protocols' is 'tls_passthrough'"
                )
        else:
            need(["sources", "destinations", "snis"], "'tcp', 'tls' or 'udp'")
    return errors or None


def _router_regexes(row: Mapping[str, Any]) -> str | None:
    """Kong 3.x's router check: regexes its linear-time engine cannot run are refused."""
    patterns = [p[1:] for p in row.get("paths") or () if isinstance(p, str) and p[:1] == "~"]
    for values in (row.get("headers") or {}).values():
        patterns += [v[2:] for v in values or () if isinstance(v, str) and v[:2] == "~*"]
    for pattern in patterns:
        error = router_regex_error(pattern)
        if error is not None:
            return error
    return None


class RoutesEntity(Entity):
    """Routes: ``strip_path`` defaults to ``false`` for gRPC routes, as in Kong."""

    def fill_defaults(self, data: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Fill defaults; gRPC-only routes get ``strip_path = false``."""
        protocols = data.get("protocols")
        if (
            data.get("strip_path") is None
            and isinstance(protocols, list)
            and protocols
            and all(p in ("grpc", "grpcs") for p in protocols)
        ):
            data = {**data, "strip_path": False}
        return super().fill_defaults(data, now)


def build() -> Entity:
    """A new ``routes`` entity."""
    return RoutesEntity(
        "routes",
        {
            "name": typedefs.utf8_name(),
            "protocols": Set(
                typedefs.protocol,
                required=True,
                len_min=1,
                default=["http", "https"],
                mutually_exclusive_subsets=[
                    ["http", "https"],
                    ["tcp", "tls", "udp"],
                    ["tls_passthrough"],
                    ["grpc", "grpcs"],
                ],
            ),
            "methods": typedefs.methods(),
            "hosts": typedefs.hosts(),
            "paths": typedefs.paths(),
            "headers": typedefs.headers(),
            "https_redirect_status_code": Integer(
                required=True, default=426, one_of=[426, 301, 302, 307, 308]
            ),
            "regex_priority": Integer(default=0),
            "strip_path": Boolean(required=True, default=True),
            "path_handling": String(default="v0", one_of=["v0", "v1"]),
            "preserve_host": Boolean(required=True, default=False),
            "request_buffering": Boolean(required=True, default=True),
            "response_buffering": Boolean(required=True, default=True),
            "snis": Set(typedefs.wildcard_host),
            "sources": typedefs.sources(),
            "destinations": typedefs.destinations(),
            "tags": typedefs.tags(),
            "service": Foreign("services"),
        },
        updated_at=True,
        endpoint_key="name",
        entity_checks=[
            Conditional(
                "protocols",
                {"elements": {"not_one_of": _SNI_PROTOCOLS}},
                "snis",
                {"len_eq": 0},
                then_err="'snis' can only be set when 'protocols' is 'grpcs', "
                "'https', 'tls' or 'tls_passthrough'",
            ),
            Custom(
                _protocol_rules,
                [
                    "protocols",
                    "methods",
                    "hosts",
                    "headers",
                    "paths",
                    "snis",
                    "sources",
                    "destinations",
                    "strip_path",
                ],
            ),
            Custom(_router_regexes, ["paths", "headers"]),
        ],
    )
