"""Worker 0's counters served over a real abstract Unix socket: exact, bounded in time, recovering."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import gatherResults
from twisted.internet.endpoints import UNIXServerEndpoint
from twisted.internet.protocol import Factory, Protocol

from kongtx.ratelimit.counters import CounterUnavailable, Hit, LocalCounters
from kongtx.ratelimit.shared import CounterServer, SharedCounters, new_address

HITS = [Hit("ratelimit:r:s:who:0:minute", 50, 1, 2_000_000_000)]


@pytest_twisted.ensureDeferred
async def test_two_clients_share_one_exact_count():
    """Two 'workers' sending 100 concurrent hits each against 50: exactly 50 pass in total."""
    store = LocalCounters(reactor)
    address = new_address()
    server = CounterServer(reactor, store, address)
    server.startService()
    clients = [SharedCounters(reactor, address) for _ in range(2)]
    try:
        outcomes = await gatherResults(
            [client.hit(HITS, True) for client in clients for _ in range(100)]
        )
        assert sum(1 for o in outcomes if o.blocked < 0) == 50
        assert store.values == {HITS[0].key: 50}
        # Worker 0 itself uses the same store directly.
        assert store.hit(HITS, True).blocked == 0
    finally:
        for client in clients:
            client.close()
        await server.stopService()


@pytest_twisted.ensureDeferred
async def test_unanswered_calls_fail_within_the_timeout():
    """A server that never answers: the call fails with CounterUnavailable after the timeout."""
    address = new_address()
    port = await UNIXServerEndpoint(reactor, address).listen(Factory.forProtocol(Protocol))
    client = SharedCounters(reactor, address, timeout=0.2)
    try:
        started = reactor.seconds()
        try:
            await client.hit(HITS, True)
        except CounterUnavailable as exc:
            assert "in time" in str(exc)
        else:
            raise AssertionError("expected CounterUnavailable")
        assert reactor.seconds() - started < 1.0
    finally:
        client.close()
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_no_server_then_recovery():
    """Nobody listening: CounterUnavailable at once; once the server is up, calls work again."""
    address = new_address()
    client = SharedCounters(reactor, address, timeout=1.0)
    try:
        await client.hit(HITS, True)
    except CounterUnavailable:
        pass
    else:
        raise AssertionError("expected CounterUnavailable")
    store = LocalCounters(reactor)
    server = CounterServer(reactor, store, address)
    server.startService()
    try:
        outcome = await client.hit(HITS, True)
        assert outcome.values == (1,)
    finally:
        client.close()
        await server.stopService()
