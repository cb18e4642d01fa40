"""The ``local`` policy across a node's worker processes: one owner, cheap IPC.

Kong's ``local`` counters live in an nginx shared dict, one per node. kongtx
keeps them in worker 0 (the ``twistd`` process, which supervises the others,
see :mod:`kongtx.workers`): worker 0 applies its own requests to its
:class:`~kongtx.ratelimit.counters.LocalCounters` directly (a dict lookup, no
I/O, no Deferred: the single-process case costs nothing more), and serves
the same store to workers ``1..N-1`` over a Unix socket in Linux's abstract
namespace (no file to clean up). A child sends one message per request and
waits for the answer; because worker 0 applies each message in one reactor
turn, the counters stay exact whichever process a request lands on.

Wire format: 32-bit length-prefixed JSON. Request ``[id, strict, [[key, limit,
cost, expires], ...]]``, answer ``[id, blocked, [value, ...]]``.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Sequence
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import UNIXClientEndpoint, UNIXServerEndpoint
from twisted.internet.interfaces import IDelayedCall, IListeningPort
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.basic import Int32StringReceiver
from twisted.python.failure import Failure

from kongtx.ratelimit.counters import CounterUnavailable, Hit, LocalCounters, Outcome

__all__ = ["CounterServer", "SharedCounters", "new_address"]

log = Logger()


def new_address() -> str:
    """A fresh abstract-namespace Unix socket address for this node's counters."""
    return "\0kongtx-counters-%d-%s" % (os.getpid(), os.urandom(6).hex())


class _ServerProtocol(Int32StringReceiver):
    """One child worker's connection: apply each request, answer it."""

    MAX_LENGTH = 1 << 20

    def __init__(self, store: LocalCounters) -> None:
        self.store = store

    def stringReceived(self, data: bytes) -> None:
        try:
            request_id, strict, raw = json.loads(data)
            hits = [Hit(str(k), float(limit), int(cost), int(exp)) for k, limit, cost, exp in raw]
        except (ValueError, TypeError):
            log.warn("counters: malformed request from a worker; closing")  # noqa: G010
            assert self.transport is not None
            self.transport.loseConnection()
            return
        outcome = self.store.hit(hits, bool(strict))
        self.sendString(json.dumps([request_id, outcome.blocked, outcome.values]).encode())


class _ServerFactory(Factory):
    noisy = False

    def __init__(self, store: LocalCounters) -> None:
        self.store = store

    def buildProtocol(self, addr: Any) -> _ServerProtocol:
        return _ServerProtocol(self.store)


class CounterServer(Service):
    """Worker 0's side: serve ``store`` on the abstract Unix socket ``address``.

    :param reactor: ``IReactorUNIX``.
    :param store: the node's counters (the ones worker 0 uses itself).
    :param address: from :func:`new_address`.
    """

    def __init__(self, reactor: Any, store: LocalCounters, address: str) -> None:
        self.reactor = reactor
        self.store = store
        self.address = address
        self._port: IListeningPort | None = None
        self._listening: Deferred[Any] | None = None

    def startService(self) -> None:
        super().startService()
        endpoint = UNIXServerEndpoint(self.reactor, self.address)
        self._listening = endpoint.listen(_ServerFactory(self.store))
        self._listening.addCallbacks(self._listened, self._failed)

    def _listened(self, port: IListeningPort) -> None:
        self._port = port

    def _failed(self, failure: Failure) -> None:
        log.failure("counters: cannot listen for worker processes", failure)

    def stopService(self) -> Any:
        super().stopService()
        if self._port is not None:
            port, self._port = self._port, None
            return port.stopListening()
        return None


class _ClientProtocol(Int32StringReceiver):
    MAX_LENGTH = 1 << 20

    def __init__(self, owner: SharedCounters) -> None:
        self.owner = owner

    def stringReceived(self, data: bytes) -> None:
        request_id, blocked, values = json.loads(data)
        self.owner.answered(request_id, Outcome(blocked, tuple(values)))

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.owner.connection_lost(self)


class SharedCounters:
    """A child worker's view of worker 0's counters (every call is one round trip).

    :param reactor: ``IReactorUNIX`` and ``IReactorTime``.
    :param address: worker 0's :class:`CounterServer` address.
    :param timeout: seconds a call may take before it fails with
        :class:`~kongtx.ratelimit.counters.CounterUnavailable`.
    """

    def __init__(self, reactor: Any, address: str, timeout: float = 5.0) -> None:
        self.reactor = reactor
        self.address = address
        self.timeout = timeout
        self._protocol: _ClientProtocol | None = None
        self._connecting: list[Deferred[_ClientProtocol]] | None = None
        self._pending: dict[int, Deferred[Outcome]] = {}
        self._next_id = 0
        # One timer for every call (not one per call): calls are answered in order, so the
        # oldest unanswered call is the first to run out of time.
        self._deadlines: deque[tuple[float, int]] = deque()
        self._watchdog: IDelayedCall | None = None

    def hit(self, hits: Sequence[Hit], strict: bool) -> Deferred[Outcome]:
        """Apply ``hits`` in worker 0's store."""
        self._next_id += 1
        request_id = self._next_id
        message = json.dumps(
            [request_id, strict, [[h.key, h.limit, h.cost, h.expires] for h in hits]]
        ).encode()

        def cancel(_: Deferred[Outcome]) -> None:
            self._pending.pop(request_id, None)

        d: Deferred[Outcome] = Deferred(cancel)
        self._pending[request_id] = d
        self._deadlines.append((self.reactor.seconds() + self.timeout, request_id))
        if self._watchdog is None:
            self._watchdog = self.reactor.callLater(self.timeout, self._expire)
        if self._protocol is not None:
            self._protocol.sendString(message)
        else:
            self._connect().addCallbacks(
                lambda proto: proto.sendString(message), lambda f: self._fail(request_id, f)
            )
        return d

    def _expire(self) -> None:
        """Fail the calls whose time ran out; re-arm for the next one."""
        self._watchdog = None
        now = self.reactor.seconds()
        deadlines = self._deadlines
        while deadlines and (deadlines[0][0] <= now or deadlines[0][1] not in self._pending):
            _, request_id = deadlines.popleft()
            d = self._pending.pop(request_id, None)
            if d is not None and not d.called:
                d.errback(CounterUnavailable("worker 0's counters did not answer in time"))
        if deadlines:
            self._watchdog = self.reactor.callLater(max(0.0, deadlines[0][0] - now), self._expire)

    def _connect(self) -> Deferred[_ClientProtocol]:
        waiter: Deferred[_ClientProtocol] = Deferred()
        if self._connecting is not None:
            self._connecting.append(waiter)
            return waiter
        self._connecting = [waiter]
        endpoint = UNIXClientEndpoint(self.reactor, self.address, timeout=self.timeout)
        d = endpoint.connect(Factory.forProtocol(lambda: _ClientProtocol(self)))
        d.addBoth(self._connected)
        return waiter

    def _connected(self, result: Any) -> None:
        waiters, self._connecting = self._connecting or [], None
        if isinstance(result, _ClientProtocol):
            self._protocol = result
        for waiter in waiters:
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(result)

    def _fail(self, request_id: int, failure: Failure) -> None:
        d = self._pending.pop(request_id, None)
        if d is not None and not d.called:
            d.errback(_unavailable(failure))

    def answered(self, request_id: int, outcome: Outcome) -> None:
        """Worker 0 answered call ``request_id`` (its connection calls this)."""
        d = self._pending.pop(request_id, None)
        deadlines = self._deadlines
        while deadlines and deadlines[0][1] not in self._pending:
            deadlines.popleft()
        if d is not None and not d.called:
            d.callback(outcome)

    def connection_lost(self, protocol: _ClientProtocol) -> None:
        """The connection to worker 0 closed: pending calls fail (its protocol calls this)."""
        if self._protocol is protocol:
            self._protocol = None
        pending, self._pending = self._pending, {}
        for d in pending.values():
            if not d.called:
                d.errback(CounterUnavailable("worker 0's counters went away"))

    def close(self) -> None:
        """Drop the connection (pending calls fail) and the timer."""
        if self._watchdog is not None and self._watchdog.active():
            self._watchdog.cancel()
        self._watchdog = None
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.loseConnection()


def _unavailable(failure: Failure) -> Failure:
    if failure.check(CounterUnavailable):
        return failure
    return Failure(CounterUnavailable(f"worker 0's counters: {failure.getErrorMessage()}"))
