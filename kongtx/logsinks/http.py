"""HTTP(S) requests to one log collector (http-log, galileo, runscope), on kept-alive connections.

A response outside 2xx fails the send (the queue retries it). TLS is not
verified unless asked (``verify``), as Kong's http-log does not verify collectors.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Protocol
from twisted.web.client import Agent, HTTPConnectionPool, ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers as TwistedHeaders
from twisted.web.iweb import IBodyProducer, IPolicyForHTTPS
from zope.interface import implementer

from kongtx import tls

__all__ = ["CollectorError", "HTTPSender", "split_userinfo"]


class CollectorError(Exception):
    """The collector answered with a status outside 2xx."""


def split_userinfo(url: str) -> tuple[str, str | None]:
    """``(url without userinfo, "Basic ..." header value or None)`` (Kong: userinfo -> Basic auth)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return urlunsplit(parts._replace(netloc=hostport)), f"Basic {token}"


@implementer(IPolicyForHTTPS)
class _TLSPolicy:
    def __init__(self, verify: bool) -> None:
        self.verify = verify

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        return tls.upstream_tls_creator(hostname.decode("idna"), verify=self.verify)


@implementer(IBodyProducer)
class _Bytes:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self.length = len(data)

    def startProducing(self, consumer: Any) -> Deferred[None]:
        consumer.write(self._data)
        return succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class _Body(Protocol):
    """Reads a response body (up to 64 KiB kept: collectors answer little)."""

    def __init__(self, done: Deferred[bytes]) -> None:
        self.done = done
        self.data = b""

    def dataReceived(self, data: bytes) -> None:
        if len(self.data) < 65536:
            self.data += data

    def connectionLost(self, reason: Any = None) -> None:
        if reason is None or reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(self.data)
        else:
            self.done.errback(reason)


class HTTPSender:
    """Sends one request per batch to ``url``.

    :param reactor: the reactor.
    :param url: the collector (``http(s)://[user:pass@]host[:port]/path``).
    :param method: ``POST``, ``PUT`` or ``PATCH``.
    :param headers: ``(name, value)`` pairs sent with every request.
    :param timeout: seconds for connecting, sending and the response.
    :param keepalive: seconds an idle connection is kept.
    :param connections: kept-alive connections at most (the queue's concurrency).
    :param verify: verify the collector's certificate (galileo's ``https_verify``).
    """

    def __init__(
        self,
        reactor: Any,
        url: str,
        *,
        method: str = "POST",
        headers: Sequence[tuple[str, str]] = (),
        timeout: float = 10.0,
        keepalive: float = 60.0,
        connections: int = 1,
        verify: bool = False,
    ) -> None:
        self.reactor = reactor
        url, authorization = split_userinfo(url)
        self.url = url.encode("ascii")
        self.method = method.encode("ascii")
        self.timeout = timeout
        self.headers = TwistedHeaders()
        for name, value in headers:
            self.headers.addRawHeader(name, value)
        if authorization is not None:
            self.headers.setRawHeaders("Authorization", [authorization])
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.pool.maxPersistentPerHost = max(connections, 1)
        # The stubs say int; Twisted hands it to callLater, which takes seconds as a float.
        self.pool.cachedConnectionTimeout = keepalive  # type: ignore[assignment]
        self.pool.retryAutomatically = False
        self.agent = Agent(reactor, _TLSPolicy(verify), connectTimeout=timeout, pool=self.pool)

    def send(self, body: bytes) -> Deferred[bytes]:
        """POST (or the configured method) ``body``; fires with the response body, fails
        with :class:`CollectorError` on a non-2xx status or on timeout."""
        return self.exchange(body).addCallback(self._check)

    def exchange(self, body: bytes) -> Deferred[tuple[int, bytes]]:
        """Send ``body``; fires with ``(status, response body)`` whatever the status, fails
        on connection errors and timeout."""
        requested = self.agent.request(self.method, self.url, self.headers.copy(), _Bytes(body))
        d = requested.addCallback(self._response)
        d.addTimeout(self.timeout, self.reactor)
        return d

    def _response(self, response: Any) -> Deferred[tuple[int, bytes]]:
        d: Deferred[bytes] = Deferred()
        response.deliverBody(_Body(d))
        return d.addCallback(lambda data: (response.code, data))

    def _check(self, answer: tuple[int, bytes]) -> bytes:
        status, data = answer
        if 200 <= status < 300:
            return data
        raise CollectorError(
            f"request to {self.url.decode()} returned status code {status} and body {data[:200]!r}"
        )

    def close(self) -> Deferred[None]:
        """Close the kept-alive connections."""
        return self.pool.closeCachedConnections()
