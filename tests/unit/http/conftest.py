"""Every server and upstream connection built in these unit tests checks its state transitions.

The server factory builds a :class:`StateCheckedProtocol` and the upstream pool a
:class:`StateCheckedConnection` instead of the plain classes: each state a
connection takes is recorded, and a transition that the ``TRANSITIONS`` table
of ``kongtx.http.server._state`` (or ``kongtx.http.client._state``) does not
name fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kongtx.http.client import UpstreamConnection, _pool
from kongtx.http.client import _state as client_states
from kongtx.http.server import HTTPServerProtocol, _factory
from kongtx.http.server._state import STATE_NAMES, TRANSITIONS

_STATE_SLOT = HTTPServerProtocol.__dict__["state"]

#: Transitions taken that TRANSITIONS does not allow (reset for each test).
VIOLATIONS: list[str] = []


class StateCheckedProtocol(HTTPServerProtocol):
    """An :class:`HTTPServerProtocol` recording its states in ``states`` (by name)."""

    @property  # type: ignore[override]
    def state(self) -> int:
        return int(_STATE_SLOT.__get__(self, HTTPServerProtocol))

    @state.setter
    def state(self, new: int) -> None:
        states: list[str] | None = self.__dict__.get("states")
        if states is None:
            states = self.__dict__["states"] = []
        else:
            old = self.state
            if new != old and new not in TRANSITIONS[old]:
                VIOLATIONS.append(f"{STATE_NAMES[old]} -> {STATE_NAMES[new]} in {states}")
        if not states or states[-1] != STATE_NAMES[new]:
            states.append(STATE_NAMES[new])
        _STATE_SLOT.__set__(self, new)


class StateCheckedConnection(UpstreamConnection):
    """An :class:`UpstreamConnection` recording its states in ``states`` (by name)."""

    @property  # type: ignore[override]
    def state(self) -> int:
        return int(self.__dict__["checked_state"])

    @state.setter
    def state(self, new: int) -> None:
        names = client_states.STATE_NAMES
        states: list[str] | None = self.__dict__.get("states")
        if states is None:
            states = self.__dict__["states"] = []
        else:
            old = self.state
            if new != old and new not in client_states.TRANSITIONS[old]:
                VIOLATIONS.append(f"{names[old]} -> {names[new]} in {states}")
        if not states or states[-1] != names[new]:
            states.append(names[new])
        self.__dict__["checked_state"] = new


@pytest.fixture(autouse=True)
def checked_states(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Build state-checked connections; fail on a transition not allowed."""
    VIOLATIONS.clear()
    monkeypatch.setattr(_factory, "HTTPServerProtocol", StateCheckedProtocol)
    monkeypatch.setattr(_pool, "UpstreamConnection", StateCheckedConnection)
    yield
    assert not VIOLATIONS, VIOLATIONS
