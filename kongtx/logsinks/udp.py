"""UDP datagrams to one log receiver (udp-log, statsd, datadog, loggly, syslog over UDP)."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from kongtx.schema.typedefs import parse_host

__all__ = ["DatagramSender"]

log = Logger()

#: Seconds a resolved receiver address is kept.
RESOLVE_TTL = 60.0


class DatagramSender:
    """Sends each item of a batch as one datagram from one local UDP port.

    Host names are resolved through the reactor's resolver (never blocking),
    at most every :data:`RESOLVE_TTL` seconds.

    :param reactor: ``IReactorUDP`` + ``IReactorTime`` + ``IReactorPluggableNameResolver``.
    :param host: the receiver's name or IP address.
    :param port: the receiver's port.
    """

    def __init__(self, reactor: Any, host: str, port: int) -> None:
        self.reactor = reactor
        self.host = host.strip("[]")
        self.port = port
        self._listening: Any = None
        self._address: str | None = None
        self._resolved_at = 0.0
        try:
            kind = parse_host(host)[0]
        except ValueError:
            kind = "name"
        if kind != "name":
            self._address = self.host
            self._resolved_at = float("inf")
        #: Datagrams handed to the socket.
        self.sent = 0

    def send(self, datagrams: list[bytes]) -> Deferred[None]:
        """Send ``datagrams``; fires once they were handed to the socket."""
        if self._address is None or self.reactor.seconds() - self._resolved_at > RESOLVE_TTL:
            d = self.reactor.resolve(self.host)
            d.addCallback(self._resolved)
            d.addCallback(lambda _: self._write(datagrams))
            return d
        return self._write(datagrams)

    def _resolved(self, address: str) -> None:
        self._address = address
        self._resolved_at = self.reactor.seconds()

    def _write(self, datagrams: list[bytes]) -> Deferred[None]:
        if self._listening is None:
            interface = "::" if self._address and ":" in self._address else ""
            self._listening = self.reactor.listenUDP(0, DatagramProtocol(), interface=interface)
        target = (self._address, self.port)
        for datagram in datagrams:
            try:
                self._listening.write(datagram, target)
            except OSError as exc:
                # The receiver's port is closed (ICMP) or the datagram is too big: UDP loses it.
                log.debug("datagram to {target} lost: {error}", target=target, error=str(exc))
                continue
            self.sent += 1
        return succeed(None)

    def close(self) -> None:
        """Release the local port."""
        listening, self._listening = self._listening, None
        if listening is not None:
            listening.stopListening()
