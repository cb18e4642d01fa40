"""SnapshotManager: the proxy's view of the configuration, built once and then kept current
one change event at a time.

At start the manager reads the routing entities with ``dao.load_all()`` and hands
the rows to ``build`` (supplied by the proxy package). After that each change
event is applied to the current snapshot with ``snapshot.apply(entity, op, id,
row)``, in the order the events arrived: at once when the event carries the row
(every local write, worker and most cluster events), else after reading that one
row by id. A full rebuild happens only for :data:`FULL_RELOAD` (a lost cluster
connection, a DB-less configuration replaced), when an update cannot be applied
(the row could not be read: the database is down), or on :meth:`request_rebuild`.
Rebuilds are coalesced: at most one runs, and any number of requests arriving
meanwhile cause exactly one more; the rebuilt snapshot replaces ``current`` in
one assignment. A failed rebuild keeps the last good snapshot and is retried later.

A build may take a while (``build`` may return a Deferred: the proxy slices it on the
reactor, :mod:`kongtx.slices`). Meanwhile the old snapshot keeps serving and keeps
following change events; every event applied from the moment the rows are read is
also recorded, and replayed on the new snapshot right before the swap, in the same
reactor turn (an event the rows already reflect is applied again: applying a row is
idempotent, and later events follow in order). No event is lost, and none costs a
second full build.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from kongtx.store.events import DELETE, ChangeEvent

S = TypeVar("S")
SwapListener = Callable[[Any], object]
UpdateListener = Callable[[Any, ChangeEvent], object]

_log = Logger()


class SnapshotManager(Generic[S]):
    """Keep ``current`` = ``build(await dao.load_all())``, up to date with change events.

    :param dao: a DAO (``load_all``, ``add_change_listener``).
    :param build: ``build(rows_by_entity) -> snapshot`` (may return a Deferred or coroutine).
    :param entities: the entities the snapshot is built from (default: all); changes to
        others (consumers, credentials) do not touch it.
    :param clock: used to retry a failed rebuild after ``retry_delay`` seconds
        (doubling up to ``max_retry_delay``).
    :param retire: ``retire([previous_snapshot])`` after a full build replaced it: the
        list holds the manager's last reference (free it elsewhere, e.g. in a thread).
    """

    def __init__(
        self,
        dao: Any,
        build: Callable[[dict[str, list[dict[str, Any]]]], Any],
        clock: IReactorTime,
        *,
        retry_delay: float = 1.0,
        max_retry_delay: float = 30.0,
        entities: Iterable[str] | None = None,
        retire: Callable[[list[Any]], object] | None = None,
    ) -> None:
        self._dao = dao
        self._retire = retire
        self._entities = frozenset(entities) if entities is not None else None
        self._build = build
        self._clock = clock
        self.current: S | None = None
        self.version = 0
        self._swap_listeners: list[SwapListener] = []
        self._update_listeners: list[UpdateListener] = []
        self._queue: list[ChangeEvent] = []
        self._draining = False
        self._settled_waiters: list[Deferred[None]] = []
        #: (event, row) applied since the running build read its rows; None: no build.
        self._replay: list[tuple[ChangeEvent, Any]] | None = None
        self._running: Deferred[None] | None = None
        self._pending = False
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._next_delay = retry_delay
        self._retry_call: IDelayedCall | None = None
        self._started = False
        self._stopped = False

    async def start(self) -> S:
        """Build the first snapshot and start following change events.

        :raises: whatever ``load_all``/``build`` raise (no snapshot yet to fall back to).
        """
        self._dao.add_change_listener(self._on_change)
        self._started = True
        first = Deferred.fromCoroutine(self._build_once())
        if not first.called:
            self._running = first  # a rebuild asked for meanwhile runs after it
        try:
            await first
        finally:
            self._running = None
        if self._pending and not self._stopped:
            self.request_rebuild()
        self._notify_settled()
        assert self.current is not None
        return self.current

    def stop(self) -> None:
        """Stop following changes (a rebuild in flight completes, no new one starts)."""
        self._stopped = True
        self._cancel_retry()
        remove = getattr(self._dao, "remove_change_listener", None)
        if remove is not None:
            remove(self._on_change)

    def add_swap_listener(self, cb: SwapListener) -> None:
        """Call ``cb(new_snapshot)`` after each full build replaced the snapshot."""
        self._swap_listeners.append(cb)

    def add_update_listener(self, cb: UpdateListener) -> None:
        """Call ``cb(snapshot, event)`` after each change applied to the current snapshot."""
        self._update_listeners.append(cb)

    def settled(self) -> Deferred[None]:
        """Fires once every change received so far is applied (or rebuilt)."""
        if not self._queue and not self._draining and self._running is None:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._settled_waiters.append(d)
        return d

    def request_rebuild(self) -> Deferred[None]:
        """Ask for a rebuild; returns a Deferred fired when the rebuild covering it ends."""
        if self._stopped:
            return Deferred.fromCoroutine(_noop())
        if self._running is not None:
            self._pending = True
            return self._chain(self._running)
        self._cancel_retry()
        d = Deferred.fromCoroutine(self._loop())
        if not d.called:  # a synchronous backend may finish the whole loop right here
            self._running = d
        return self._chain(d)

    @property
    def busy(self) -> bool:
        """True while a rebuild is in flight."""
        return self._running is not None

    def _on_change(self, event: ChangeEvent) -> None:
        if self._stopped:
            return
        if event.is_reload or not (self._replay is not None or hasattr(self.current, "apply")):
            self.request_rebuild()
            return
        if self._entities is not None and event.entity not in self._entities:
            return
        self._queue.append(event)
        if not self._draining:
            Deferred.fromCoroutine(self._drain())

    async def _drain(self) -> None:
        """Apply queued events in order (synchronously for those that carry their row)."""
        self._draining = True
        try:
            while self._queue:
                event = self._queue.pop(0)
                row = event.row
                if row is None and event.op != DELETE and event.id is not None:
                    try:
                        row = await self._dao.select(event.entity, event.id)
                    except Exception:  # noqa: BLE001 - database down: rebuild once it is back
                        _log.failure(
                            "could not read {entity} {id}", entity=event.entity, id=event.id
                        )
                        self._queue.clear()
                        self.request_rebuild()
                        return
                if self._replay is not None:
                    # A build is under way: the new snapshot gets this change at the swap.
                    self._replay.append((event, row))
                if hasattr(self.current, "apply"):
                    self._apply(event, row)
                elif self.current is not None:
                    self._pending = True  # cannot be updated: the build covers it
        finally:
            self._draining = False
            self._notify_settled()

    def _apply(self, event: ChangeEvent, row: Any) -> None:
        snapshot = self.current
        try:
            snapshot.apply(event.entity, event.op, event.id, row)  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - a bad update must not leave a half-applied state
            _log.failure("applying {event!r} failed; rebuilding", event=event)
            self.request_rebuild()
            return
        self.version += 1
        for cb in tuple(self._update_listeners):
            try:
                cb(snapshot, event)
            except Exception:  # noqa: BLE001
                _log.failure("snapshot update listener {cb!r} failed", cb=cb)

    def _notify_settled(self) -> None:
        if self._queue or self._draining or self._running is not None:
            return
        waiters, self._settled_waiters = self._settled_waiters, []
        for d in waiters:
            d.callback(None)

    @staticmethod
    def _chain(d: Deferred[None]) -> Deferred[None]:
        out: Deferred[None] = Deferred()

        def done(result: object) -> object:
            out.callback(None)
            return result

        d.addBoth(done)
        return out

    async def _loop(self) -> None:
        try:
            while True:
                self._pending = False
                try:
                    await self._build_once()
                except Exception:  # noqa: BLE001 - keep serving the last good snapshot
                    if self._stopped:
                        return
                    _log.failure("snapshot rebuild failed; keeping the previous snapshot")
                    self._schedule_retry()
                    return
                self._next_delay = self._retry_delay
                if not self._pending or self._stopped:
                    return
        finally:
            self._running = None
            self._notify_settled()

    async def _build_once(self) -> None:
        self._replay = []
        try:
            if self._entities is None:
                rows = await self._dao.load_all()
            else:
                rows = await self._dao.load_all(self._entities)
            snapshot = self._build(rows)
            if inspect.isawaitable(snapshot):
                snapshot = await snapshot
            replay, self._replay = self._replay, None
        finally:
            self._replay = None
        if replay and not hasattr(snapshot, "apply"):
            self._pending = True  # cannot be updated: build once more
            replay = []
        for event, row in replay:
            try:
                snapshot.apply(event.entity, event.op, event.id, row)
            except Exception:  # noqa: BLE001 - build once more rather than serve a half-update
                _log.failure("replaying {event!r} failed; rebuilding", event=event)
                self._pending = True
                break
        retired = [self.current]
        self.current = snapshot
        self.version += 1
        if self._retire is not None and retired[0] is not None:
            try:
                self._retire(retired)
            except Exception:  # noqa: BLE001 - freeing elsewhere is an optimisation only
                _log.failure("retiring the previous snapshot failed")
        del retired
        activate = getattr(snapshot, "activate", None)
        if activate is not None:
            activate()
        for cb in tuple(self._swap_listeners):
            try:
                cb(snapshot)
            except Exception:  # noqa: BLE001 - a bad listener must not block the swap
                _log.failure("snapshot swap listener {cb!r} failed", cb=cb)

    def _schedule_retry(self) -> None:
        if self._stopped or self._retry_call is not None:
            return
        delay = self._next_delay
        self._next_delay = min(self._next_delay * 2, self._max_retry_delay)

        def retry() -> None:
            self._retry_call = None
            self.request_rebuild()

        self._retry_call = self._clock.callLater(delay, retry)

    def _cancel_retry(self) -> None:
        if self._retry_call is not None and self._retry_call.active():
            self._retry_call.cancel()
        self._retry_call = None


async def _noop() -> None:
    return None
