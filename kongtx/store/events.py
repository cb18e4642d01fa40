"""Change events published by the DAO (local writes) and the cluster listener (remote ones)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet.defer import Deferred
from twisted.logger import Logger

_log = Logger()

#: ``op`` values of :class:`ChangeEvent`.
CREATE, UPDATE, DELETE, RELOAD = "create", "update", "delete", "reload"


@dataclass(frozen=True)
class ChangeEvent:
    """One committed change: ``entity`` name, ``op`` and row ``id``.

    ``op == "reload"`` (:data:`FULL_RELOAD`, entity ``"*"``, id ``None``) means
    changes may have been missed (e.g. after a database reconnect): listeners
    must rebuild everything from the store.
    """

    entity: str
    op: str
    id: str | None

    @property
    def is_reload(self) -> bool:
        """True for the full-reload event."""
        return self.op == RELOAD


FULL_RELOAD = ChangeEvent("*", RELOAD, None)

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
                result.addErrback(
                    lambda f, cb=cb: _log.failure(
                        "change listener {cb!r} failed on {event!r}", f, cb=cb, event=event
                    )
                )
