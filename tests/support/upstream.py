"""A real HTTP/1.1 upstream for integration tests, on 127.0.0.1 port 0.

Built on a small Twisted protocol parsing with httptools so tests can control
the wire exactly (close mid-body, stall, 101 upgrades, back-pressure).

Usage::

    upstream = await start_upstream(reactor)
    ... requests to 127.0.0.1:upstream.port ...
    upstream.requests[-1].headers.get("x-foo")
    await upstream.stop()

Endpoints (any method; HEAD answers the GET headers without a body):

``/`` and anything unknown
    200 JSON echo: method, path, query, headers (lower-case), body (text, or
    base64 with ``body_encoding``), body_length.
``/status/<code>``           that status (no body for 1xx/204/304).
``/delay/<seconds>``         the echo after a delay.
``/bytes/<n>``               n bytes of :data:`PATTERN` (Content-Length), with back-pressure.
``/chunked?count=<k>``       a chunked body of k lines ``chunk <i>\\n``.
``/close-delimited``         a body without length, ended by closing the connection.
``/upload``                  counts the body without keeping it: ``{"received": n}``.
``/stall-upload``            stops reading at the request head and never answers.
``/close-mid-body``          headers (Content-Length 1000), 500 bytes, then close.
``/slow-body``               headers (Content-Length 100), then nothing.
``/interim``                 ``100 Continue`` and ``103 Early Hints``, then the echo.
``/bad-response``            bytes that are not HTTP.
``/ws``                      a WebSocket-style 101 handshake, then echoes raw bytes
                             (``?greet=<text>`` is sent right after the 101, in the same write).

Any endpoint: ``?close=1`` answers with ``Connection: close``; ``?drop=1``
closes the connection silently right after the response.
Add endpoints with :meth:`Upstream.route`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httptools
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Factory, Protocol
from zope.interface import implementer

from kongtx.http.headers import Headers

#: The byte pattern ``/bytes/<n>`` serves (repeated, then cut to n).
PATTERN = bytes(range(256)) * 256
_REASONS = {
    100: "Continue",
    101: "Switching Protocols",
    103: "Early Hints",
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    404: "Not Found",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class RecordedRequest:
    """What the upstream received for one request."""

    __slots__ = (
        "body",
        "body_length",
        "connection",
        "headers",
        "method",
        "path",
        "query",
        "target",
        "version",
    )

    def __init__(
        self, method: str, target: str, headers: Headers, version: str, connection: int
    ) -> None:
        self.method = method
        self.target = target
        path, _, query = target.partition("?")
        self.path = path
        self.query = query if "?" in target else None
        self.headers = headers
        self.version = version
        self.body: bytes | None = b""
        self.body_length = 0
        #: Which server-side connection carried it (1, 2, ... in accept order).
        self.connection = connection

    def args(self) -> dict[str, str]:
        """The query string as a dict (last value wins)."""
        return {k: v[-1] for k, v in parse_qs(self.query or "").items()}

    def __repr__(self) -> str:
        return f"<RecordedRequest {self.method} {self.target} conn={self.connection}>"


@implementer(IPushProducer)
class _PatternProducer:
    """Writes n bytes of PATTERN, only while the socket accepts them."""

    def __init__(self, exchange: Exchange, remaining: int) -> None:
        self.exchange = exchange
        self.remaining = remaining
        self.paused = False
        self.stopped = False

    def resumeProducing(self) -> None:
        self.paused = False
        ex = self.exchange
        while not self.paused and not self.stopped and self.remaining > 0:
            chunk = PATTERN if self.remaining >= len(PATTERN) else PATTERN[: self.remaining]
            self.remaining -= len(chunk)
            ex.write(chunk)
        if self.remaining == 0 and not self.stopped:
            self.stopped = True
            ex.transport.unregisterProducer()
            ex.finish()

    def pauseProducing(self) -> None:
        self.paused = True
        self.exchange.upstream._emit("producer_paused", self.remaining)

    def stopProducing(self) -> None:
        self.stopped = True


class Exchange:
    """One request being answered; handlers use it to respond."""

    def __init__(self, proto: _UpstreamProtocol, request: RecordedRequest) -> None:
        self.proto = proto
        self.upstream = proto.upstream
        self.request = request
        self.transport = proto.transport
        self.head_only = request.method == "HEAD"
        self.finished = False
        self._chunked = False

    def write_head(
        self,
        status: int,
        headers: list[tuple[str, str]] | None = None,
        reason: str | None = None,
        *,
        chunked: bool = False,
    ) -> None:
        """Send the status line and headers (add framing headers yourself, or ``chunked``)."""
        lines = [f"HTTP/1.1 {status} {reason or _REASONS.get(status, 'Unknown')}\r\n"]
        for name, value in headers or ():
            lines.append(f"{name}: {value}\r\n")
        if chunked:
            self._chunked = True
            lines.append("Transfer-Encoding: chunked\r\n")
        if self.proto.close_after or self.request.args().get("close"):
            self.proto.close_after = True
            lines.append("Connection: close\r\n")
        lines.append("\r\n")
        self.transport.write("".join(lines).encode("latin-1"))

    def write(self, data: bytes) -> None:
        """Send body bytes (dropped for HEAD)."""
        if self.head_only or not data:
            return
        if self._chunked:
            self.transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            self.transport.write(data)

    def finish(self) -> None:
        """End the response; the connection then serves the next request or closes."""
        if self.finished:
            return
        self.finished = True
        if self._chunked and not self.head_only:
            self.transport.write(b"0\r\n\r\n")
        self.proto.response_done(self.request)

    def respond(
        self,
        status: int,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
        reason: str | None = None,
    ) -> None:
        """Send a whole response with Content-Length."""
        headers = list(headers or ())
        if not (100 <= status < 200 or status in (204, 304)):
            headers.append(("Content-Length", str(len(body))))
        self.write_head(status, headers, reason)
        self.write(body)
        self.finish()

    def respond_json(self, status: int, doc: Any) -> None:
        """Send ``doc`` as JSON."""
        self.respond(status, json.dumps(doc).encode(), [("Content-Type", "application/json")])

    def stream_pattern(self, n: int) -> None:
        """Send n bytes of :data:`PATTERN` with Content-Length, honouring back-pressure."""
        self.write_head(
            200, [("Content-Length", str(n)), ("Content-Type", "application/octet-stream")]
        )
        if self.head_only:
            self.finish()
            return
        producer = _PatternProducer(self, n)
        self.transport.registerProducer(producer, True)
        producer.resumeProducing()

    def echo(self) -> None:
        """Answer the JSON echo of the request."""
        req = self.request
        doc: dict[str, Any] = {
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "headers": req.headers.to_dict(),
            "body_length": req.body_length,
        }
        body = req.body or b""
        try:
            doc["body"] = body.decode("utf-8")
            doc["body_encoding"] = "text"
        except UnicodeDecodeError:
            doc["body"] = base64.b64encode(body).decode()
            doc["body_encoding"] = "base64"
        self.respond_json(200, doc)


Handler = Callable[[Exchange], None]


class _UpstreamProtocol(Protocol):
    def __init__(self, upstream: Upstream, number: int) -> None:
        self.upstream = upstream
        self.number = number
        self.parser = httptools.HttpRequestParser(self)
        self.close_after = False
        self.raw_echo = False
        self.exchange: Exchange | None = None
        self.lost: Deferred[None] = Deferred()
        self._url = b""
        self._raw: list[tuple[bytes, bytes]] = []
        self._request: RecordedRequest | None = None
        self._route: tuple[Handler, bool, bool] | None = None

    def connectionMade(self) -> None:
        self.upstream._open.add(self)

    def connectionLost(self, reason: Any = None) -> None:
        self.upstream._open.discard(self)
        self.upstream._emit("connection_lost", self.number)
        self.lost.callback(None)

    def dataReceived(self, data: bytes) -> None:
        if self.raw_echo:
            self.transport.write(data)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            if self.raw_echo:
                rest = data[exc.args[0] :]
                if rest:
                    self.transport.write(rest)
            else:
                self.transport.loseConnection()
        except httptools.HttpParserError:
            self.transport.write(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            self.transport.loseConnection()

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        request = RecordedRequest(
            parser.get_method().decode(),
            self._url.decode("latin-1"),
            Headers.from_raw(self._raw),
            parser.get_http_version(),
            self.number,
        )
        self._url = b""
        self._raw = []
        if not parser.should_keep_alive():
            self.close_after = True
        self._request = request
        _, keep_body, at_headers = self._route = self.upstream._find(request.path)
        if not keep_body:
            request.body = None
        if at_headers:
            self._dispatch()

    def on_body(self, data: bytes) -> None:
        request = self._request
        if request is None:
            return
        request.body_length += len(data)
        if request.body is not None:
            request.body += data

    def on_message_complete(self) -> None:
        if self._route is not None and not self._route[2]:
            self._dispatch()
        self._request = None
        self._route = None

    def _dispatch(self) -> None:
        request = self._request
        assert request is not None and self._route is not None
        self.upstream.requests.append(request)
        self.upstream._emit("request", request)
        exchange = self.exchange = Exchange(self, request)
        self._route[0](exchange)

    def response_done(self, request: RecordedRequest) -> None:
        self.exchange = None
        if self.close_after or request.args().get("drop"):
            self.transport.loseConnection()


class Upstream:
    """A running test upstream. :ivar port: its port. :ivar requests: what it received."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.port = 0
        self.requests: list[RecordedRequest] = []
        #: Connections accepted so far.
        self.connections = 0
        self._open: set[_UpstreamProtocol] = set()
        self._routes: dict[str, tuple[Handler, bool, bool]] = {}
        self._prefixes: list[tuple[str, tuple[Handler, bool, bool]]] = []
        self._waiters: dict[str, list[Deferred[Any]]] = {}
        self._listener: Any = None
        _install_default_routes(self)

    def route(
        self, path: str, handler: Handler, *, keep_body: bool = True, at_headers: bool = False
    ) -> None:
        """Add an endpoint. ``path`` ending in ``/`` matches as a prefix.

        :param keep_body: keep the request body bytes (else only count them).
        :param at_headers: call ``handler`` when the head arrived, not at the end of the body.
        """
        entry = (handler, keep_body, at_headers)
        if path.endswith("/") and path != "/":
            self._prefixes.append((path, entry))
            self._prefixes.sort(key=lambda item: -len(item[0]))
        else:
            self._routes[path] = entry

    def _find(self, path: str) -> tuple[Handler, bool, bool]:
        entry = self._routes.get(path)
        if entry is not None:
            return entry
        for prefix, entry in self._prefixes:
            if path.startswith(prefix):
                return entry
        return self._routes["/"]

    def wait_for(self, event: str) -> Deferred[Any]:
        """A Deferred firing on the next ``event``: ``request``, ``connection_lost``, ``producer_paused``."""
        d: Deferred[Any] = Deferred()
        self._waiters.setdefault(event, []).append(d)
        return d

    def _emit(self, event: str, value: Any) -> None:
        waiters = self._waiters.pop(event, [])
        for d in waiters:
            d.callback(value)

    @property
    def open_connections(self) -> int:
        """Connections open right now."""
        return len(self._open)

    def drop_connections(self) -> None:
        """Abort every open connection (RST), e.g. to make pooled client connections stale."""
        for proto in list(self._open):
            proto.transport.abortConnection()

    def stop(self) -> Deferred[None]:
        """Stop listening and drop every connection; fires when all are gone."""
        waits = [proto.lost for proto in self._open]
        self.drop_connections()
        d = self._listener.stopListening()
        waits.append(d)
        return DeferredList(waits).addCallback(lambda _: None)

    # Factory
    def _build(self) -> _UpstreamProtocol:
        self.connections += 1
        return _UpstreamProtocol(self, self.connections)


class _UpstreamFactory(Factory):
    noisy = False

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    def buildProtocol(self, addr: Any) -> _UpstreamProtocol:
        return self.upstream._build()


# default endpoints ----------------------------------------------------------------
def _echo(ex: Exchange) -> None:
    ex.echo()


def _status(ex: Exchange) -> None:
    try:
        code = int(ex.request.path.rsplit("/", 1)[1])
    except ValueError:
        ex.respond(400, b"bad status")
        return
    body = b"" if 100 <= code < 200 or code in (204, 304) else f"status {code}".encode()
    ex.respond(code, body)


def _delay(ex: Exchange) -> None:
    seconds = float(ex.request.path.rsplit("/", 1)[1])
    call = ex.upstream.reactor.callLater(seconds, lambda: ex.transport.connected and ex.echo())
    ex.proto.lost.addCallback(lambda _: call.active() and call.cancel())


def _bytes(ex: Exchange) -> None:
    ex.stream_pattern(int(ex.request.path.rsplit("/", 1)[1]))


def _chunked(ex: Exchange) -> None:
    count = int(ex.request.args().get("count", "5"))
    ex.write_head(200, [("Content-Type", "text/plain")], chunked=True)
    for i in range(count):
        ex.write(f"chunk {i}\n".encode())
    ex.finish()


def _close_delimited(ex: Exchange) -> None:
    ex.proto.close_after = True
    ex.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
    if not ex.head_only:
        ex.transport.write(b"body until close")
    ex.finished = True
    ex.transport.loseConnection()


def _upload(ex: Exchange) -> None:
    ex.respond_json(200, {"received": ex.request.body_length})


def _stall_upload(ex: Exchange) -> None:
    ex.transport.pauseProducing()


def _close_mid_body(ex: Exchange) -> None:
    ex.write_head(200, [("Content-Length", "1000")])
    ex.write(b"x" * 500)
    ex.transport.loseConnection()


def _slow_body(ex: Exchange) -> None:
    ex.write_head(200, [("Content-Length", "100")])


def _interim(ex: Exchange) -> None:
    ex.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    ex.transport.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
    ex.echo()


def _bad_response(ex: Exchange) -> None:
    ex.transport.write(b"this is not HTTP\r\n\r\n")


def _ws(ex: Exchange) -> None:
    req = ex.request
    if (req.headers.get("upgrade") or "").lower() != "websocket":
        ex.respond(400, b"expected a websocket upgrade")
        return
    key = (req.headers.get("sec-websocket-key") or "").encode("latin-1")
    accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest()).decode()
    head = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
    ).encode("latin-1")
    greet = req.args().get("greet", "").encode()
    ex.proto.raw_echo = True
    ex.finished = True
    ex.transport.write(head + greet)


def _install_default_routes(upstream: Upstream) -> None:
    upstream.route("/", _echo)
    upstream.route("/status/", _status)
    upstream.route("/delay/", _delay)
    upstream.route("/bytes/", _bytes, keep_body=False)
    upstream.route("/chunked", _chunked)
    upstream.route("/close-delimited", _close_delimited)
    upstream.route("/upload", _upload, keep_body=False)
    upstream.route("/stall-upload", _stall_upload, keep_body=False, at_headers=True)
    upstream.route("/close-mid-body", _close_mid_body)
    upstream.route("/slow-body", _slow_body)
    upstream.route("/interim", _interim)
    upstream.route("/bad-response", _bad_response)
    upstream.route("/ws", _ws)


async def start_upstream(reactor: Any, *, tls: Any = None) -> Upstream:
    """Start a test upstream on 127.0.0.1, port 0.

    :param tls: a server context factory (e.g. :attr:`TestTLS.server_options`) to serve HTTPS.
    """
    upstream = Upstream(reactor)
    factory = _UpstreamFactory(upstream)
    if tls is None:
        upstream._listener = reactor.listenTCP(0, factory, interface="127.0.0.1")
    else:
        upstream._listener = reactor.listenSSL(0, factory, tls, interface="127.0.0.1")
    upstream.port = upstream._listener.getHost().port
    return upstream


class TestTLS:
    """A throw-away certificate for ``hostname``, signed by a throw-away CA.

    :ivar server_options: context factory for :func:`start_upstream`.
    :ivar client_creator: an ``IOpenSSLClientConnectionCreator`` trusting it.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, hostname: str = "localhost") -> None:
        from twisted.internet import ssl

        from kongtx.tls import make_certificate

        ca_pem, ca_key = make_certificate(f"{hostname} test CA", is_ca=True, key_type="ec")
        cert_pem, key_pem = make_certificate(hostname, issuer=(ca_pem, ca_key), key_type="ec")
        self.hostname = hostname
        self.cert_pem = cert_pem
        self.key_pem = key_pem
        private = ssl.PrivateCertificate.loadPEM(cert_pem + key_pem)
        self.server_options = private.options()
        authority = ssl.Certificate.loadPEM(ca_pem)
        self.client_creator = ssl.optionsForClientTLS(hostname, trustRoot=authority)
