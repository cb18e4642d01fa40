"""A caller that gives up mid-write (an Admin API client that disconnects) never breaks the
store: the transaction finishes by itself, later calls work (issue 15, Security 3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import deferLater

from kongtx.schema.entity import Entity
from kongtx.schema.fields import String
from kongtx.store.dao import DAO
from tests.integration.store.conftest import fresh_dao, test_registry


class Gate:
    """A slow step inside the write: the transformation waits until ``open()``."""

    def __init__(self) -> None:
        self.entered: Deferred[None] = Deferred()
        self._release: Deferred[None] = Deferred()

    async def transform(self, row: dict[str, Any], dao: Any) -> dict[str, Any]:
        if not self.entered.called:
            self.entered.callback(None)
        await self._release
        return row

    def open(self) -> None:
        if not self._release.called:
            self._release.callback(None)


@pytest_twisted.async_yield_fixture(params=["sqlite", "postgres"])
async def slow_store(
    request: pytest.FixtureRequest, tmp_path: Any
) -> AsyncIterator[tuple[DAO, Gate]]:
    gate = Gate()
    reg = test_registry()
    reg.register(
        Entity("slow_things", [("name", String(unique=True))], transformations=[gate.transform])
    )
    dao = await fresh_dao(request.param, tmp_path, request, reg)
    try:
        yield dao, gate
    finally:
        await dao.close()


async def _settled() -> None:
    await deferLater(reactor, 0.05, lambda: None)


async def _still_works(dao: DAO, name: str) -> None:
    await dao.ping()
    row = await dao.insert("consumers", {"username": name})
    assert (await dao.select("consumers", row["id"]))["username"] == name


async def _slow_names(dao: DAO) -> list[str]:
    page = await dao.page("slow_things", size=100)
    return sorted(r["name"] for r in page.rows)


@pytest.mark.parametrize("point", ["waiting_for_lock", "inside_write", "at_commit"])
@pytest_twisted.ensureDeferred
async def test_caller_cancelled_mid_write(slow_store, point) -> None:
    """Cancel the caller while it waits for the connection, while its transaction is open,
    or as it commits: the write finishes whole (and its change event fires), nothing stays
    locked, and the next calls succeed."""
    dao, gate = slow_store
    events: list[Any] = []
    dao.add_change_listener(events.append)
    if point == "waiting_for_lock":
        # Another write holds the transaction (SQLite: the one connection; PG: row lock).
        first = Deferred.fromCoroutine(dao.insert("slow_things", {"name": "first"}))
        await gate.entered
        second = Deferred.fromCoroutine(dao.insert("slow_things", {"name": "second"}))
        await _settled()
        second.cancel()
        gate.open()
        assert (await first)["name"] == "first"
        with pytest.raises(CancelledError):
            await second
    else:
        pending = Deferred.fromCoroutine(dao.insert("slow_things", {"name": "one"}))
        await gate.entered
        if point == "at_commit":
            gate.open()
            reactor.callLater(0, pending.cancel)
            await _settled()
        else:
            pending.cancel()
        gate.open()
        with pytest.raises(CancelledError):
            await pending
    await _settled()
    await _still_works(dao, f"after-{point}")
    names = await _slow_names(dao)
    expected = ["first", "second"] if point == "waiting_for_lock" else ["one"]
    assert names == expected
    assert {e.entity for e in events} >= {"slow_things", "consumers"}


@pytest_twisted.ensureDeferred
async def test_many_cancelled_writes_leave_store_usable(slow_store) -> None:
    """Four callers in a row give up mid-write (the issue's 4 of 4 tries): every later call works."""
    dao, gate = slow_store
    gate.open()
    for i in range(4):
        pending = Deferred.fromCoroutine(dao.insert("slow_things", {"name": f"n{i}"}))
        reactor.callLater(0, pending.cancel)
        try:
            await pending
        except CancelledError:
            pass
    await _settled()
    await _still_works(dao, "afterwards")
    assert await _slow_names(dao) == ["n0", "n1", "n2", "n3"]
