"""The metric lines statsd sends for one log entry (Kong 3.x ``kong/plugins/statsd/log.lua``), pure.

Without ``tag_style`` each line is scoped ``service.<name>`` (dots -> ``_``) or
``global.unmatched``; with a tag style, the stat names are bare and the
service, route, workspace, consumer, node and status go in tags (no tags for
an unmatched request), and the per-user/per-status metrics are skipped, as
Kong does. ``shdict_usage`` reports nginx shared dictionaries, which kongtx
does not have: it sends nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kongtx.logsinks.serializer import DEFAULT_WORKSPACE_ID, DEFAULT_WORKSPACE_NAME
from kongtx.logsinks.statsd_lines import ENTRY_STATS, STAT_TYPES, statsd_line

__all__ = ["allowed_status", "metric_lines", "prefix_of"]


def _consumer_id(kind: str, consumer: Mapping[str, Any] | None) -> Any:
    if consumer is None:
        return None
    return consumer.get({"consumer_id": "id"}.get(kind, kind))


def _service_id(kind: str, service: Mapping[str, Any] | None) -> Any:
    if service is None:
        return None
    if kind == "service_name_or_host":
        return service.get("name") or service.get("host")
    return service.get(kind[len("service_") :])


def _workspace_id(kind: str) -> str:
    return DEFAULT_WORKSPACE_NAME if kind == "workspace_name" else DEFAULT_WORKSPACE_ID


def allowed_status(ranges: list[str] | None, status: int) -> bool:
    """``allow_status_codes``: no list allows every status."""
    if not ranges:
        return True
    for item in ranges:
        low, _, high = item.partition("-")
        if int(low) <= status <= int(high):
            return True
    return False


def prefix_of(conf: Mapping[str, Any], hostname: str) -> str:
    """``prefix``, plus ``.node.<hostname>`` with ``hostname_in_prefix`` and no tag style."""
    prefix = conf.get("prefix") or "kong"
    if conf.get("hostname_in_prefix") and not conf.get("tag_style"):
        prefix += ".node." + hostname
    return prefix


def _scope(entry: Mapping[str, Any], service_kind: str) -> str:
    service = entry.get("service")
    if service is None:
        return "global.unmatched"
    name = _service_id(service_kind, service)
    return "service." + (str(name).replace(".", "_") if name else "unnamed")


def _tags(
    entry: Mapping[str, Any], metric: Mapping[str, Any], conf: Mapping[str, Any], hostname: str
) -> list[tuple[str, Any]] | None:
    service_id = _service_id(
        metric.get("service_identifier") or conf["service_identifier_default"], entry.get("service")
    )
    if not service_id:
        return None
    tags: list[tuple[str, Any]] = [("service", service_id)]
    route = entry.get("route")
    if route is not None:
        tags.append(("route", route.get("name") or route.get("id")))
    tags.append(
        (
            "workspace",
            _workspace_id(
                metric.get("workspace_identifier") or conf["workspace_identifier_default"]
            ),
        )
    )
    consumer_id = _consumer_id(
        metric.get("consumer_identifier") or conf["consumer_identifier_default"],
        entry.get("consumer"),
    )
    if consumer_id is not None:
        tags.append(("consumer", consumer_id))
    tags.append(("node", hostname))
    tags.append(("status", entry["response"]["status"]))
    return tags


def metric_lines(entry: Mapping[str, Any], conf: Mapping[str, Any], hostname: str) -> list[str]:
    """Every line of ``conf["metrics"]`` for ``entry`` (Kong's serialized entry).

    :param hostname: this node's host name with dots replaced by ``_``.
    """
    prefix = prefix_of(conf, hostname)
    style = conf.get("tag_style")
    status = entry["response"]["status"]
    lines: list[str] = []
    for metric in conf["metrics"]:
        name = metric["name"]
        rate = metric.get("sample_rate")
        kind = STAT_TYPES[metric["stat_type"]]
        if name in ENTRY_STATS:
            stat, value_of = ENTRY_STATS[name]
            value = value_of(entry)
            if value is None or value == -1:
                continue
            if style:
                tags = _tags(entry, metric, conf, hostname)
                lines.append(statsd_line(prefix, stat, value, kind, rate, tags, style))
            else:
                scope = _scope(
                    entry, metric.get("service_identifier") or conf["service_identifier_default"]
                )
                lines.append(statsd_line(prefix, f"{scope}.{stat}", value, kind, rate))
            continue
        if style or name == "shdict_usage":
            continue  # Kong skips these in tag mode; kongtx has no shared dicts
        scope = _scope(
            entry, metric.get("service_identifier") or conf["service_identifier_default"]
        )
        consumer_id = _consumer_id(
            metric.get("consumer_identifier") or conf["consumer_identifier_default"],
            entry.get("consumer"),
        )
        if name == "status_count":
            lines.append(statsd_line(prefix, f"{scope}.status.{status}", 1, "c", rate))
        elif name == "status_count_per_workspace":
            ws = _workspace_id(
                metric.get("workspace_identifier") or conf["workspace_identifier_default"]
            )
            lines.append(
                statsd_line(prefix, f"{scope}.workspace.{ws}.status.{status}", 1, "c", rate)
            )
        elif consumer_id is None:
            continue
        elif name == "unique_users":
            lines.append(statsd_line(prefix, f"{scope}.user.uniques", consumer_id, "s"))
        elif name == "request_per_user":
            lines.append(
                statsd_line(prefix, f"{scope}.user.{consumer_id}.request.count", 1, "c", rate)
            )
        elif name == "status_count_per_user":
            lines.append(
                statsd_line(prefix, f"{scope}.user.{consumer_id}.status.{status}", 1, "c", rate)
            )
        elif name == "status_count_per_user_per_route":
            route = entry.get("route")
            if route is not None:
                stat = f"route.{route['id']}.user.{consumer_id}.status.{status}"
                lines.append(statsd_line(prefix, stat, 1, "c", rate))
    return lines
