"""kongtx.lean_dispatch: reactor events without Twisted's logging context, errors still logged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet import epollreactor
from twisted.logger import globalLogPublisher
from twisted.python import log

from kongtx import lean_dispatch


class _Selectable:
    def __init__(self, prefix: str | None) -> None:
        self.prefix = prefix

    def logPrefix(self) -> str:
        if self.prefix is None:
            raise RuntimeError("no prefix")
        return self.prefix


@pytest.fixture
def events() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(seen.append)
    try:
        yield seen
    finally:
        globalLogPublisher.removeObserver(seen.append)


@pytest.fixture
def installed() -> Iterator[None]:
    lean_dispatch.install()
    try:
        yield
    finally:
        lean_dispatch.uninstall()


def test_install_is_what_the_reactors_call(installed: None) -> None:
    # The reactors look the function up on the module at each event.
    assert epollreactor.log is log
    assert log.callWithLogger is lean_dispatch.lean_call_with_logger
    lean_dispatch.install()
    assert log.callWithLogger is lean_dispatch.lean_call_with_logger


def test_uninstall_puts_twisteds_back(installed: None) -> None:
    lean_dispatch.uninstall()
    assert log.callWithLogger is not lean_dispatch.lean_call_with_logger
    assert log.callWithLogger.__module__ == "twisted.python.log"


def test_the_handlers_result_is_returned(events: list[dict[str, Any]]) -> None:
    result = lean_dispatch.lean_call_with_logger(_Selectable("conn"), lambda a, b: a + b, 2, b=3)
    assert result == 5
    assert not [e for e in events if e.get("isError")]


def test_an_exception_is_logged_with_the_selectables_prefix(
    events: list[dict[str, Any]],
) -> None:
    def broken() -> None:
        raise ValueError("handler bug")

    assert (
        lean_dispatch.lean_call_with_logger(_Selectable("HTTPServerProtocol,3,127.0.0.1"), broken)
        is None
    )
    errors = [e for e in events if e.get("isError")]
    assert len(errors) == 1
    assert errors[0]["system"] == "HTTPServerProtocol,3,127.0.0.1"
    assert errors[0]["failure"].check(ValueError)


def test_a_broken_log_prefix_still_reports_the_handlers_exception(
    events: list[dict[str, Any]],
) -> None:
    def broken() -> None:
        raise KeyError("handler bug")

    lean_dispatch.lean_call_with_logger(_Selectable(None), broken)
    errors = [e for e in events if e.get("isError")]
    assert [e["system"] for e in errors] == ["(buggy logPrefix method)"]
    assert errors[0]["failure"].check(KeyError)


def test_keyboard_interrupt_goes_through() -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lean_dispatch.lean_call_with_logger(_Selectable("x"), interrupted)
