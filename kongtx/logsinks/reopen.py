"""Reopening every log file of the process on SIGUSR1 (log rotation, as ``kong reopen_logs``)."""

from __future__ import annotations

import signal
import weakref
from typing import Any, Callable, Protocol

from twisted.logger import Logger

__all__ = ["install_sigusr1", "register", "reopen_all", "unregister"]

log = Logger()


class Reopenable(Protocol):
    def request_reopen(self) -> None: ...


_files: weakref.WeakSet[Any] = weakref.WeakSet()


def register(writer: Reopenable) -> None:
    """Include ``writer`` in :func:`reopen_all` (held weakly)."""
    _files.add(writer)


def unregister(writer: Reopenable) -> None:
    """Exclude ``writer`` from :func:`reopen_all`."""
    _files.discard(writer)


def reopen_all() -> int:
    """Ask every registered writer to reopen its file before its next write; returns how many."""
    writers = list(_files)
    for writer in writers:
        writer.request_reopen()
    return len(writers)


def install_sigusr1(reactor: Any, also: Callable[[], None] | None = None) -> None:
    """Reopen the log files when the process gets SIGUSR1 (chaining any previous handler).

    The handler only schedules :func:`reopen_all` (then ``also``: the parent of
    worker processes passes the signal on, as nginx's master does) on the reactor thread.
    """
    previous = signal.getsignal(signal.SIGUSR1)

    def reopen_and_more() -> None:
        _reopen_logged()
        if also is not None:
            also()

    def handler(signum: int, frame: Any) -> None:
        reactor.callFromThread(reopen_and_more)
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGUSR1, handler)


def _reopen_logged() -> None:
    count = reopen_all()
    log.info("SIGUSR1: reopening {count} log files", count=count)
