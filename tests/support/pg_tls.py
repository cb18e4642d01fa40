"""A TLS front for the test PostgreSQL server, for ``pg_ssl`` / ``pg_ssl_verify`` tests.

It speaks PostgreSQL's TLS negotiation to the client (``SSLRequest`` answered
``S``, ``GSSENCRequest`` answered ``N``), terminates TLS with its own
certificate and relays the plaintext protocol to the real server. A client
that starts without TLS is relayed as it is.
"""

from __future__ import annotations

import struct
from typing import Any

from twisted.internet import ssl
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Factory, Protocol

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104


class _Backend(Protocol):
    def __init__(self, front: _Front) -> None:
        self.front = front

    def dataReceived(self, data: bytes) -> None:
        self.front.transport.write(data)  # type: ignore[union-attr]

    def connectionLost(self, reason: Any = None) -> None:
        self.front.transport.loseConnection()  # type: ignore[union-attr]


class _Front(Protocol):
    def __init__(self, factory: PgTlsFront) -> None:
        self.factory = factory
        self.buffer = b""
        self.backend: _Backend | None = None
        self.pending: list[bytes] = []
        self.negotiating = True

    def dataReceived(self, data: bytes) -> None:
        if self.negotiating:
            self.buffer += data
            while self.negotiating and len(self.buffer) >= 8:
                length, code = struct.unpack("!II", self.buffer[:8])
                if length == 8 and code == _GSSENC_REQUEST:
                    self.buffer = self.buffer[8:]
                    self.transport.write(b"N")  # type: ignore[union-attr]
                elif length == 8 and code == _SSL_REQUEST:
                    self.buffer = self.buffer[8:]
                    self.transport.write(b"S")  # type: ignore[union-attr]
                    self.transport.startTLS(self.factory.tls)  # type: ignore[union-attr]
                    self.factory.tls_sessions += 1
                    self.negotiating = False
                else:
                    self.negotiating = False  # plaintext startup
            if self.negotiating:
                return
            data, self.buffer = self.buffer, b""
            self._connect_backend()
        if not data:
            return
        if self.backend is None:
            self.pending.append(data)
        else:
            self.backend.transport.write(data)  # type: ignore[union-attr]

    def _connect_backend(self) -> None:
        from twisted.internet import reactor

        backend = _Backend(self)
        d = connectProtocol(
            TCP4ClientEndpoint(reactor, self.factory.host, self.factory.port), backend
        )

        def connected(_: Any) -> None:
            self.backend = backend
            for chunk in self.pending:
                backend.transport.write(chunk)  # type: ignore[union-attr]
            self.pending.clear()

        d.addCallbacks(connected, lambda _: self.transport.loseConnection())  # type: ignore[union-attr]

    def connectionLost(self, reason: Any = None) -> None:
        if self.backend is not None and self.backend.transport is not None:
            self.backend.transport.loseConnection()


class PgTlsFront(Factory):
    """Listen with :func:`listen`; ``tls_sessions`` counts the TLS handshakes started."""

    def __init__(self, host: str, port: int, cert_pem: bytes, key_pem: bytes) -> None:
        self.host = host
        self.port = port
        pair = ssl.PrivateCertificate.loadPEM(cert_pem + key_pem)
        # libpq 17 offers ALPN "postgresql"
        self.tls = ssl.CertificateOptions(
            privateKey=pair.privateKey.original,
            certificate=pair.original,
            acceptableProtocols=[b"postgresql"],
        )
        self.tls_sessions = 0

    def buildProtocol(self, addr: Any) -> _Front:
        return _Front(self)


def listen(front: PgTlsFront) -> Any:
    """Listen on a free loopback port; returns the listening port."""
    from twisted.internet import reactor

    return reactor.listenTCP(0, front, interface="127.0.0.1")
