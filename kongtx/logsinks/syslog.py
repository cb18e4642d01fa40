"""Syslog messages (RFC 3164, as libc's ``syslog(3)`` writes them) and a Unix datagram sender.

:func:`syslog_message` is pure; :class:`UnixDatagramSender` writes datagrams to
a local socket such as ``/dev/log``, reconnecting (with the queue's back-off)
while the socket is missing or refuses them.
"""

from __future__ import annotations

import time
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.protocol import ConnectedDatagramProtocol

__all__ = ["UnixDatagramSender", "syslog_message"]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def syslog_message(
    facility: int,
    severity: int,
    when: float,
    message: str,
    ident: str = "kong",
    pid: int | None = None,
    hostname: str | None = None,
) -> bytes:
    """``<PRI>Mmm dd hh:mm:ss [hostname ]ident[pid]: message`` (local time, English month).

    :param facility: facility number (``user`` = 1).
    :param severity: severity number (``info`` = 6).
    :param when: the time (seconds since the epoch).
    :param hostname: included for remote (UDP) receivers; local sockets omit it as libc does.
    """
    t = time.localtime(when)
    stamp = f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    tag = f"{ident}[{pid}]" if pid is not None else ident
    host = f"{hostname} " if hostname else ""
    return f"<{facility * 8 + severity}>{stamp} {host}{tag}: {message}".encode()


class _Quiet(ConnectedDatagramProtocol):
    def connectionFailed(self, failure: Any) -> None:
        """Reported by the failing write instead."""


class UnixDatagramSender:
    """Writes datagrams to the Unix datagram socket at ``path``.

    :param reactor: ``IReactorUNIXDatagram``.
    :param path: e.g. ``/dev/log``.
    """

    def __init__(self, reactor: Any, path: str) -> None:
        self.reactor = reactor
        self.path = path
        self._port: Any = None

    def send(self, datagrams: list[bytes]) -> Deferred[None]:
        """Write ``datagrams``; fails (to be retried) when the socket is missing or refuses."""
        try:
            if self._port is None:
                self._port = self.reactor.connectUNIXDatagram(self.path, _Quiet())
            for index, datagram in enumerate(datagrams):
                if datagram:
                    self._port.write(datagram)
                    datagrams[index] = b""  # a retry re-sends only what did not go out
        except OSError as exc:
            self.close()
            return fail(ConnectionError(f"syslog socket {self.path}: {exc.strerror or exc}"))
        return succeed(None)

    def close(self) -> None:
        """Release the socket."""
        port, self._port = self._port, None
        if port is not None:
            port.stopListening()
