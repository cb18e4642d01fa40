"""StatsD / DogStatsD line formats and UDP packet packing (pure), for statsd and datadog.

Formats (Kong's ``statsd_logger.lua``), with ``|@rate`` only when the rate is not 1:

* plain:     ``prefix.stat:value|kind``
* dogstatsd: ``prefix.stat:value|kind|#k:v,k2:v2``
* influxdb:  ``prefix.stat,k=v,k2=v2:value|kind``
* librato:   ``prefix.stat#k=v,k2=v2:value|kind``
* signalfx:  ``prefix.stat[k=v,k2=v2]:value|kind``
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Callable

__all__ = ["ENTRY_STATS", "STAT_TYPES", "TAG_STYLES", "lua_number", "pack", "statsd_line"]

STAT_TYPES = {
    "gauge": "g",
    "counter": "c",
    "timer": "ms",
    "histogram": "h",
    "meter": "m",
    "set": "s",
    "distribution": "d",
}
TAG_STYLES = ("dogstatsd", "influxdb", "librato", "signalfx")

#: The metrics read from a log entry (Kong's serializer output), by config name:
#: (stat name, how to read its value), as the statsd and datadog plugins send them.
ENTRY_STATS: dict[str, tuple[str, Callable[[Mapping[str, Any]], Any]]] = {
    "request_size": ("request.size", lambda e: e["request"]["size"]),
    "response_size": ("response.size", lambda e: e["response"]["size"]),
    "latency": ("latency", lambda e: e["latencies"]["request"]),
    "upstream_latency": ("upstream_latency", lambda e: e["latencies"]["proxy"]),
    "kong_latency": ("kong_latency", lambda e: e["latencies"]["kong"]),
    "request_count": ("request.count", lambda e: 1),
}


def lua_number(value: Any) -> str:
    """``tostring`` of a Lua number: integral values without a decimal point."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def statsd_line(
    prefix: str,
    stat: str,
    value: Any,
    kind: str,
    sample_rate: float | None = None,
    tags: Sequence[tuple[str, Any]] | None = None,
    tag_style: str | None = None,
) -> str:
    """One metric line (see the module docstring for the formats)."""
    rate = f"|@{lua_number(sample_rate)}" if sample_rate is not None and sample_rate != 1 else ""
    value = lua_number(value)
    if tag_style is None or tags is None:
        return f"{prefix}.{stat}:{value}|{kind}{rate}"
    if tag_style == "dogstatsd":
        joined = ",".join(f"{k}:{v}" for k, v in tags)
        return f"{prefix}.{stat}:{value}|{kind}{rate}|#{joined}"
    joined = ",".join(f"{k}={v}" for k, v in tags)
    if tag_style == "influxdb":
        return f"{prefix}.{stat},{joined}:{value}|{kind}{rate}"
    if tag_style == "librato":
        return f"{prefix}.{stat}#{joined}:{value}|{kind}{rate}"
    return f"{prefix}.{stat}[{joined}]:{value}|{kind}{rate}"


def pack(lines: Iterable[bytes], packet_size: int) -> list[bytes]:
    """Join lines with ``\\n`` into packets of at most ``packet_size`` bytes (Kong's
    ``udp_packet_size``; 0 = one line per packet). A line longer than the size goes alone."""
    if packet_size <= 0:
        return list(lines)
    packets: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        if current and size + len(line) > packet_size:
            packets.append(b"\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        packets.append(b"\n".join(current))
    return packets
