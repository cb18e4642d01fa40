"""Values and errors of the upstream client, and the request-head serializer.

The serializer is pure (no I/O) so it is unit-tested on its own.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IReactorTCP, IReactorTime

from kongtx.http.body import Body, StreamBody
from kongtx.http.headers import Headers


class IUpstreamReactor(IReactorTCP, IReactorTime):
    """What the upstream client needs from the reactor: TCP connections and time."""


class UpstreamError(Exception):
    """Base of the upstream client's errors.

    :param message: what went wrong.
    :param request_sent: whether any byte of the request reached the upstream socket.
    :param received: whether any byte of a response was received.
    """

    def __init__(self, message: str, *, request_sent: bool = False, received: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.request_sent = request_sent
        self.received = received


class UpstreamConnectError(UpstreamError):
    """The TCP connection (or TLS handshake) to the upstream failed; retryable."""


class UpstreamTimeout(UpstreamError):
    """A connect, write or read timeout expired.

    :param phase: ``"connect"``, ``"write"`` or ``"read"``.
    """

    def __init__(self, phase: str, *, request_sent: bool = False, received: bool = False) -> None:
        super().__init__(
            f"timeout while {_PHASES[phase]} upstream", request_sent=request_sent, received=received
        )
        self.phase = phase


_PHASES = {"connect": "connecting to", "write": "sending to", "read": "reading from"}


class UpstreamProtocolError(UpstreamError):
    """The upstream sent something that is not a valid HTTP/1.x response."""


class UpstreamClosed(UpstreamError):
    """The upstream closed the connection before the response was complete."""


class UpstreamRequest:
    """A request to send upstream.

    :param method: e.g. ``"GET"``.
    :param target: the request-target, ``path[?query]``.
    :param headers: end-to-end headers; ``Content-Length``/``Transfer-Encoding``
        are replaced by the client's own framing, ``Host`` is added when missing.
    :param body: ``None``, a :class:`BufferedBody` or a :class:`StreamBody`.
    """

    __slots__ = ("body", "headers", "method", "target")

    def __init__(
        self,
        method: str,
        target: str,
        headers: Headers,
        body: Body | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body


class UpstreamAddress:
    """Where to send a request: one resolved upstream target.

    :param host: an IP address.
    :param port: the TCP port.
    :param tls: connect with TLS.
    :param server_name: SNI / certificate name (TLS only); defaults to ``host``.
    :param tls_creator: an ``IOpenSSLClientConnectionCreator``; by default
        ``optionsForClientTLS(server_name or host)``.
    """

    __slots__ = ("host", "host_header", "key", "port", "server_name", "tls", "tls_creator")

    def __init__(
        self,
        host: str,
        port: int,
        tls: bool = False,
        server_name: str | None = None,
        tls_creator: Any = None,
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.server_name = server_name
        self.tls_creator = tls_creator
        #: The pool key; connections are shared only between equal keys. The
        #: TLS creator is part of it: a connection set up without verification
        #: or with one client certificate must not serve another configuration.
        self.key = (host, port, tls, server_name, tls_creator if tls else None)
        name = f"[{host}]" if ":" in host else host
        default_port = 443 if tls else 80
        #: ``Host`` line used when the request has none (pre-encoded once).
        self.host_header = (
            f"Host: {name}\r\n" if port == default_port else f"Host: {name}:{port}\r\n"
        ).encode("latin-1")

    def __repr__(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"UpstreamAddress({scheme}://{self.host}:{self.port})"


class UpstreamResponse:
    """A response head from upstream, with its streaming body.

    :ivar status: the status code.
    :ivar reason: the reason phrase.
    :ivar headers: the response headers (framing headers included, as received).
    :ivar version: ``"1.1"`` or ``"1.0"``.
    :ivar body: a :class:`StreamBody` (already ended and empty for HEAD/204/304/101).
    :ivar upgraded: after ``101 Switching Protocols``, the raw upstream channel; else ``None``.
    """

    __slots__ = ("body", "headers", "reason", "status", "upgraded", "version")

    def __init__(
        self,
        status: int,
        reason: str,
        headers: Headers,
        version: str,
        body: StreamBody,
        upgraded: Any = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.version = version
        self.body = body
        self.upgraded = upgraded

    def __repr__(self) -> str:
        return f"UpstreamResponse({self.status} {self.reason!r})"


#: Request fields the client replaces with its own framing.
_FRAMING_NAMES = frozenset(("content-length", "transfer-encoding"))
_CHUNKED = b"Transfer-Encoding: chunked\r\n\r\n"
_ZERO_LENGTH = b"Content-Length: 0\r\n\r\n"
_END = b"\r\n"
#: Methods whose empty body is still announced with ``Content-Length: 0``.
_BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))


def serialize_head(request: UpstreamRequest, host_header: bytes) -> tuple[bytes, bool]:
    """Serialize the request line and headers, with the client's own framing.

    :param request: the request.
    :param host_header: the pre-encoded ``Host: ...\\r\\n`` line used when the
        request has no ``Host``.
    :returns: ``(head, chunked)``: the bytes up to and including the blank
        line, and whether the body must be sent chunked.
    """
    lines: list[str] = []
    append = lines.append
    has_host = False
    # One pass: drop the caller's framing fields, note whether Host is there.
    for lname, name, value in request.headers.entries():
        if lname in _FRAMING_NAMES:
            continue
        if lname == "host":
            has_host = True
        append(f"{name}: {value}\r\n")
    line = f"{request.method} {request.target} HTTP/1.1\r\n".encode("latin-1")
    if not has_host:
        line += host_header
    body = request.body
    chunked = False
    if body is None:
        framing = _ZERO_LENGTH if request.method in _BODY_METHODS else _END
    elif body.length is None:
        framing = _CHUNKED
        chunked = True
    else:
        framing = b"Content-Length: %d\r\n\r\n" % body.length
    return b"".join((line, "".join(lines).encode("latin-1"), framing)), chunked
