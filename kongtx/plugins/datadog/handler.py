"""datadog: DogStatsD lines with Kong's tags for each request, one datagram per line.

``KONG_DATADOG_AGENT_HOST`` / ``KONG_DATADOG_AGENT_PORT`` replace ``host`` / ``port``
when those are null or keep their defaults (``localhost``, 8125): Kong keeps an
explicit null, which kongtx's schema turns into the default, so the default
stands for "not configured"; any other configured value wins.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from kongtx.logsinks.plugin import LogPluginHandler, Sink
from kongtx.logsinks.queue import BatchQueue
from kongtx.logsinks.schema import queue_conf
from kongtx.logsinks.statsd_lines import ENTRY_STATS, STAT_TYPES, statsd_line
from kongtx.logsinks.udp import DatagramSender

__all__ = ["DatadogHandler", "datadog_lines"]


def _consumer_id(kind: str | None, consumer: Mapping[str, Any] | None) -> Any:
    if kind is None or consumer is None:
        return None
    if kind == "consumer_id":
        return consumer["id"].replace("-", "_")
    return consumer.get(kind)


def datadog_lines(entry: Mapping[str, Any], conf: Mapping[str, Any]) -> list[str]:
    """Kong 3.x's lines: ``<prefix>.<stat>:<value>|<type>[|@rate]|#name:<service>,status:<code>
    [,consumer:<id>][,<metric tags>]`` (service name or host, dots -> ``_``; empty unmatched)."""
    service = entry.get("service")
    name = (service.get("name") or service.get("host") or "").replace(".", "_") if service else ""
    status = entry.get("response", {}).get("status", "-")
    prefix = conf.get("prefix") or "kong"
    lines = []
    for metric in conf["metrics"]:
        stat, value_of = ENTRY_STATS[metric["name"]]
        tags = [
            f"{conf.get('service_name_tag') or 'name'}:{name}",
            f"{conf.get('status_tag') or 'status'}:{status}",
        ]
        consumer_id = _consumer_id(metric.get("consumer_identifier"), entry.get("consumer"))
        if consumer_id is not None:
            tags.append(f"{conf.get('consumer_tag') or 'consumer'}:{consumer_id}")
        tags.extend(metric.get("tags") or ())
        line = statsd_line(
            prefix,
            stat,
            value_of(entry),
            STAT_TYPES[metric["stat_type"]],
            metric.get("sample_rate"),
        )
        lines.append(f"{line}|#{','.join(tags)}")
    return lines


class DatadogHandler(LogPluginHandler):
    name = "datadog"
    priority = 10
    version = "3.6.0"

    def build_sink(self, reactor: Any, conf: dict[str, Any]) -> Sink:
        host = conf.get("host") or "localhost"
        if host == "localhost":
            host = os.environ.get("KONG_DATADOG_AGENT_HOST") or host
        port = conf.get("port") or 8125
        if port == 8125:
            port = int(os.environ.get("KONG_DATADOG_AGENT_PORT") or port)
        sender = DatagramSender(reactor, host, port)

        def encode(entry: dict[str, Any]) -> list[bytes]:
            return [line.encode() for line in datadog_lines(entry, conf)]

        queue: BatchQueue[bytes] = BatchQueue(
            reactor, sender.send, queue_conf(conf), name=f"{host}:{port}", plugin=self.name
        )
        return Sink(queue, encode, None, sender.close)
