"""Config fields the log plugins share: Kong's ``queue`` record and the custom fields."""

from __future__ import annotations

from typing import Any

from kongtx.logsinks.custom_fields import validate_lua_fields, validate_template_fields
from kongtx.logsinks.queue import QueueConf
from kongtx.schema import Conditional, Integer, Map, Number, Record, String, typedefs

__all__ = [
    "CONSUMER_IDENTIFIERS",
    "SAMPLE_RATE_CHECK",
    "custom_fields_fields",
    "queue_conf",
    "queue_record",
    "receiver_fields",
]

#: How a statsd or datadog metric may name the consumer.
CONSUMER_IDENTIFIERS = ("consumer_id", "custom_id", "username")
#: A statsd or datadog metric counted or gauged needs a ``sample_rate``.
SAMPLE_RATE_CHECK = Conditional(
    "stat_type", {"one_of": ["counter", "gauge"]}, "sample_rate", {"required": True}
)


def queue_record(**defaults: Any) -> Record:
    """Kong's ``queue`` record (``kong/tools/queue_schema.lua``); ``defaults`` override Kong's."""
    d = {**QueueConf().__dict__, **defaults}
    return Record(
        [
            (
                "max_batch_size",
                Integer(
                    required=True,
                    default=d["max_batch_size"],
                    between=(1, 1000000),
                    description="Most entries sent in one batch.",
                ),
            ),
            (
                "max_coalescing_delay",
                Number(
                    required=True,
                    default=d["max_coalescing_delay"],
                    between=(0, 3600),
                    description="Seconds an entry may wait for others to fill a batch.",
                ),
            ),
            (
                "max_entries",
                Integer(
                    required=True,
                    default=d["max_entries"],
                    between=(1, 1000000),
                    description="Most entries queued; past it the oldest are dropped.",
                ),
            ),
            (
                "max_bytes",
                Integer(
                    default=d["max_bytes"],
                    description="Most bytes queued (string entries); unset for no limit.",
                ),
            ),
            (
                "max_retry_time",
                Number(
                    default=d["max_retry_time"],
                    description="Seconds a failing batch is retried before it is dropped.",
                ),
            ),
            (
                "initial_retry_delay",
                Number(
                    default=d["initial_retry_delay"],
                    between=(0.001, 1000000),
                    description="Seconds before the first retry.",
                ),
            ),
            (
                "max_retry_delay",
                Number(
                    default=d["max_retry_delay"],
                    between=(0.001, 1000000),
                    description="Longest delay between retries, in seconds.",
                ),
            ),
            (
                "concurrency_limit",
                Integer(
                    default=d["concurrency_limit"],
                    one_of=(-1, 1),
                    description="Batches sent at once: 1, or -1 for no limit.",
                ),
            ),
        ],
        required=True,
        description="How log entries are queued and sent in batches.",
    )


def receiver_fields(transport: str) -> list[tuple[str, Any]]:
    """``host``, ``port`` and ``timeout`` of the tcp-log and udp-log receiver (``transport``
    is ``"TCP"`` or ``"UDP"``, named in the port's description)."""
    return [
        ("host", typedefs.host(required=True, description="Host of the log receiver.")),
        (
            "port",
            typedefs.port(required=True, description=f"{transport} port of the log receiver."),
        ),
        (
            "timeout",
            Number(default=10000, description="Milliseconds to wait when sending to the receiver."),
        ),
    ]


def custom_fields_fields() -> list[tuple[str, Any]]:
    """``custom_fields`` (templates) and ``custom_fields_by_lua`` (``return <expr>``)."""
    return [
        (
            "custom_fields",
            Map(
                keys=String(len_min=1),
                values=String(len_min=1),
                validators=[validate_template_fields],
                description="Fields added to each log entry: name -> template (e.g. $(headers.host)).",
            ),
        ),
        (
            "custom_fields_by_lua",
            Map(
                keys=String(len_min=1),
                values=String(len_min=1),
                validators=[validate_lua_fields],
                description="Fields added to each log entry: name -> 'return <expression>'.",
            ),
        ),
    ]


def queue_conf(conf: dict[str, Any]) -> QueueConf:
    """The :class:`QueueConf` of a config with a ``queue`` record and Kong's deprecated
    ``queue_size`` / ``flush_timeout`` (mapped to ``max_batch_size`` / ``max_coalescing_delay``
    when the queue keeps its defaults); ``retry_count`` is ignored as in Kong 3.x."""
    queue = dict(conf.get("queue") or {})
    default = QueueConf()
    if conf.get("queue_size") is not None and queue.get("max_batch_size") in (
        None,
        default.max_batch_size,
    ):
        queue["max_batch_size"] = conf["queue_size"]
    if conf.get("flush_timeout") is not None and queue.get("max_coalescing_delay") in (
        None,
        default.max_coalescing_delay,
    ):
        queue["max_coalescing_delay"] = conf["flush_timeout"]
    return QueueConf.from_config(queue)
