"""Change events published by the DAO (local writes) and the cluster listener (remote ones)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

_log = Logger()

#: ``op`` values of :class:`ChangeEvent`.
CREATE, UPDATE, DELETE, RELOAD = "create", "update", "delete", "reload"


@dataclass(frozen=True)
class ChangeEvent:
    """One committed change: ``entity`` name, ``op`` and row ``id``.

    ``row`` is the row as committed (None for a delete) and ``old`` the row
    before an update or delete, when the producer knows them: local writes
    always carry them; an event from another node carries them when they fit
    in the notification, else a listener that needs the row fetches it by id.

    ``op == "reload"`` (:data:`FULL_RELOAD`, entity ``"*"``, id ``None``) means
    changes may have been missed (e.g. after a database reconnect): listeners
    must rebuild everything from the store.
    """

    entity: str
    op: str
    id: str | None
    row: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    old: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def is_reload(self) -> bool:
        """True for the full-reload event."""
        return self.op == RELOAD


FULL_RELOAD = ChangeEvent("*", RELOAD, None)


def event_to_wire(event: ChangeEvent, max_size: int) -> list[Any]:
    """``[entity, op, id]`` plus ``row`` and ``old`` when the whole stays under ``max_size``
    bytes of JSON (a larger event travels without its rows)."""
    item: list[Any] = [event.entity, event.op, event.id]
    if event.row is None and event.old is None:
        return item
    full = [*item, event.row, event.old]
    if len(json.dumps(full, separators=(",", ":"))) <= max_size:
        return full
    return item


def event_from_wire(item: list[Any]) -> ChangeEvent:
    """The inverse of :func:`event_to_wire`."""
    entity, op, eid = item[0], item[1], item[2]
    row = item[3] if len(item) > 3 else None
    old = item[4] if len(item) > 4 else None
    return ChangeEvent(entity, op, eid, row, old)


ChangeListener = Callable[[ChangeEvent], object]


class ChangeHub:
    """Fan change events out to listeners; a failing listener is logged, never fatal."""

    def __init__(self) -> None:
        self._listeners: list[ChangeListener] = []

    def add(self, cb: ChangeListener) -> None:
        """Register ``cb(event)``."""
        self._listeners.append(cb)

    def remove(self, cb: ChangeListener) -> None:
        """Unregister ``cb`` (no error if absent)."""
        if cb in self._listeners:
            self._listeners.remove(cb)

    def fire(self, event: ChangeEvent) -> None:
        """Call every listener with ``event``."""
        for cb in tuple(self._listeners):
            try:
                result = cb(event)
            except Exception:  # noqa: BLE001 - one bad listener must not starve the others
                _log.failure("change listener {cb!r} failed on {event!r}", cb=cb, event=event)
                continue
            if isinstance(result, Deferred):
                result.addErrback(_listener_failed, cb, event)


def _listener_failed(failure: Failure, cb: object, event: object) -> None:
    _log.failure("change listener {cb!r} failed on {event!r}", failure, cb=cb, event=event)
