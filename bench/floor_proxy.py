"""Scenario (f) of ``bench/run``: the floor of what this reactor can do per proxied request.

Usage: ``python bench/floor_proxy.py LISTEN_PORT UPSTREAM_PORT``; listens on
127.0.0.1 and forwards every request to ``127.0.0.1:UPSTREAM_PORT``.

A bare Twisted ``Protocol`` with no gateway logic: requests parsed with
``httptools`` (the same parser kongtx uses), one keep-alive upstream connection
per client connection (opened on the first request, reused after), requests
answered in order, one ``write`` per message (head and body together, bodies
relayed whole with a ``Content-Length``). No routing, no
plugins, no header rewriting beyond ``Host``, no timeouts: anything kongtx does
on top of this is the gateway's cost.
"""

from __future__ import annotations

import sys
from collections import deque

import httptools
from twisted.internet import protocol

#: Message framing is redone by the proxy: bodies are relayed whole with a Content-Length.
FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection", b"keep-alive"))


class UpstreamSide(protocol.Protocol):
    """The keep-alive connection to the upstream, owned by one client connection."""

    def __init__(self, client: ClientSide) -> None:
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.head: list[bytes] = []
        self.body: list[bytes] = []

    def connectionMade(self) -> None:
        self.client.upstream_ready(self)

    def dataReceived(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.loseConnection()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.head = []
        self.body = []

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() not in FRAMING:
            self.head.append(name + b": " + value + b"\r\n")

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_message_complete(self) -> None:
        body = b"".join(self.body)
        start = b"HTTP/1.1 %d -\r\n" % self.parser.get_status_code()
        length = b"Content-Length: %d\r\n\r\n" % len(body)
        self.client.respond(start + b"".join(self.head) + length + body)

    def connectionLost(self, reason: object = None) -> None:
        self.client.upstream_lost()


class ClientSide(protocol.Protocol):
    """One client connection: parse requests, relay them in order over one upstream connection."""

    def __init__(self, upstream_port: int, reactor: object) -> None:
        self.upstream_port = upstream_port
        self.reactor = reactor
        self.parser = httptools.HttpRequestParser(self)
        self.upstream: UpstreamSide | None = None
        self.connecting = False
        self.waiting: deque[bytes] = deque()  # requests not yet sent upstream
        self.head: list[bytes] = []
        self.body: list[bytes] = []
        self.url = b""

    def dataReceived(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.write(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            self.transport.loseConnection()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.head = []
        self.body = []
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower == b"host":
            value = b"127.0.0.1:%d" % self.upstream_port
        elif lower in FRAMING:
            return
        self.head.append(name + b": " + value + b"\r\n")

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_message_complete(self) -> None:
        body = b"".join(self.body)
        start = b"%s %s HTTP/1.1\r\n" % (self.parser.get_method(), self.url)
        length = b"Content-Length: %d\r\n\r\n" % len(body)
        request = start + b"".join(self.head) + length + body
        self.waiting.append(request)
        self.flush()

    def flush(self) -> None:
        if self.upstream is None:
            if not self.connecting:
                self.connecting = True
                creator = protocol.ClientCreator(self.reactor, UpstreamSide, self)
                creator.connectTCP("127.0.0.1", self.upstream_port).addErrback(self.upstream_failed)
            return
        while self.waiting:
            self.upstream.transport.write(self.waiting.popleft())

    def upstream_ready(self, upstream: UpstreamSide) -> None:
        self.upstream = upstream
        self.connecting = False
        self.flush()

    def upstream_failed(self, _failure: object) -> None:
        self.connecting = False
        self.transport.write(
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        self.transport.loseConnection()

    def upstream_lost(self) -> None:
        self.upstream = None

    def respond(self, message: bytes) -> None:
        self.transport.write(message)

    def connectionLost(self, reason: object = None) -> None:
        if self.upstream is not None:
            self.upstream.transport.loseConnection()


class FloorFactory(protocol.ServerFactory):
    noisy = False

    def __init__(self, upstream_port: int, reactor: object) -> None:
        self.upstream_port = upstream_port
        self.reactor = reactor

    def buildProtocol(self, addr: object) -> ClientSide:
        proto = ClientSide(self.upstream_port, self.reactor)
        proto.factory = self
        return proto


def main(argv: list[str]) -> None:
    """Serve until killed."""
    listen, upstream = int(argv[1]), int(argv[2])
    from twisted.internet import reactor

    reactor.listenTCP(listen, FloorFactory(upstream, reactor), interface="127.0.0.1", backlog=511)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv)
