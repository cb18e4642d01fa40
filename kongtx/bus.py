"""Messages between the worker processes of a node (beyond configuration changes).

Worker 0 (which serves the Admin API) publishes; the node's other workers get
each message over the pipe their supervisor already keeps to them (see
:mod:`kongtx.workers`) and deliver it to their subscribers. Used by
proxy-cache: a purge through the Admin API empties every worker's cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

__all__ = ["NodeBus"]

log = Logger()

Subscriber = Callable[[Any], object]


class NodeBus:
    """Topic -> subscribers in this process; ``publish`` reaches the other workers."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._forwarders: list[Callable[[str, Any], object]] = []

    def subscribe(self, topic: str, callback: Subscriber) -> None:
        """Call ``callback(data)`` for every message on ``topic`` from another worker."""
        self._subscribers.setdefault(topic, []).append(callback)

    def add_forwarder(self, forward: Callable[[str, Any], object]) -> None:
        """Send published messages on (the supervisor: to every child worker)."""
        self._forwarders.append(forward)

    def publish(self, topic: str, data: Any) -> None:
        """Send ``data`` (JSON-able) to the other workers; this process already acted on it."""
        for forward in self._forwarders:
            forward(topic, data)

    def deliver(self, topic: str, data: Any) -> None:
        """A message from another worker: call the subscribers (their errors are logged)."""
        for callback in self._subscribers.get(topic, ()):
            try:
                callback(data)
            except Exception:
                log.failure("bus subscriber for {topic} failed", topic=topic)
