"""request-size-limiting end to end: Content-Length checks, streamed chunked bodies, 411/413/417."""

from __future__ import annotations

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

PLUGINS = "ip-restriction,cors,bot-detection,request-size-limiting,request-termination"


@implementer(IBodyProducer)
class _Chunked:
    """A request body of unknown length: sent chunked, in several writes."""

    length = UNKNOWN_LENGTH

    def __init__(self, size: int, piece: int = 1000, delay: float | None = None) -> None:
        self.size = size
        self.piece = piece
        self.delay = delay

    def startProducing(self, consumer):
        if self.delay is None:
            self._write(consumer, self.size)
            return succeed(None)
        # First piece now, the rest later: the gateway is already streaming upstream by then.
        consumer.write(b"x" * self.piece)
        done = Deferred()

        def rest():
            self._write(consumer, self.size - self.piece)
            done.callback(None)

        reactor.callLater(self.delay, rest)
        return done

    def _write(self, consumer, left: int) -> None:
        while left > 0:
            n = min(left, self.piece)
            consumer.write(b"x" * n)
            left -= n

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass

    def stopProducing(self):
        pass


async def _route(gw, name: str, config: dict) -> None:
    await gw.route_with_plugin(name, "request-size-limiting", config)


@pytest_twisted.ensureDeferred
async def test_content_length_limits(env):
    """Bodies up to the limit pass; over it 413 (417 with Expect: 100-continue); kilobytes unit."""
    gw, upstream = env
    await _route(gw, "kb", {"allowed_payload_size": 1, "size_unit": "kilobytes"})
    reply = await gw.proxy("POST", "/kb", data=b"a" * 1024)
    assert reply.status == 200
    assert reply.json["body_length"] == 1024
    reply = await gw.proxy("POST", "/kb", data=b"a" * 1025)
    assert reply.status == 413
    assert reply.json["message"] == "Request size limit exceeded"
    reply = await gw.proxy("POST", "/kb", data=b"a" * 1025, headers={"Expect": "100-continue"})
    assert reply.status == 417
    assert reply.json["message"] == "Request size limit exceeded"
    assert len(upstream.requests) == 1


@pytest_twisted.ensureDeferred
async def test_chunked_bodies_are_counted(env):
    """A chunked body under the limit streams through; over it the client gets 413."""
    gw, upstream = env
    await _route(gw, "bytes", {"allowed_payload_size": 5000, "size_unit": "bytes"})
    reply = await gw.proxy("POST", "/bytes", data=_Chunked(5000))
    assert reply.status == 200
    assert reply.json["body_length"] == 5000
    reply = await gw.proxy("POST", "/bytes", data=_Chunked(20000))
    assert reply.status == 413
    assert reply.json["message"] == "Request size limit exceeded"
    reply = await gw.proxy("POST", "/bytes", data=_Chunked(20000, delay=0.2))
    assert reply.status == 413
    assert reply.json["message"] == "Request size limit exceeded"
    reply = await gw.proxy("POST", "/bytes", data=_Chunked(4000, delay=0.05))
    assert reply.status == 200
    assert reply.json["body_length"] == 4000
    assert all(len(r.body or b"") <= 5000 for r in upstream.requests)
    reply = await gw.proxy("POST", "/bytes", data=b"small")
    assert reply.status == 200


@pytest_twisted.ensureDeferred
async def test_require_content_length(env):
    """require_content_length: no Content-Length is 411; a chunked body is still accepted."""
    gw, _ = env
    await _route(gw, "req", {"require_content_length": True})
    reply = await gw.proxy("GET", "/req")
    assert reply.status == 411
    assert reply.json["message"] == "A valid Content-Length header is required"
    reply = await gw.proxy("POST", "/req", data=b"abc")
    assert reply.status == 200
    reply = await gw.proxy("POST", "/req", data=_Chunked(10))
    assert reply.status == 200


@pytest_twisted.ensureDeferred
async def test_admin_validation(env):
    """Unknown units are 400; defaults are 128 megabytes without the Content-Length requirement."""
    gw, _ = env
    reply = await gw.admin(
        "POST", "/plugins", {"name": "request-size-limiting", "config": {"size_unit": "gigabytes"}}
    )
    assert reply.status == 400
    assert (
        reply.json["fields"]["config"]["size_unit"]
        == "expected one of: megabytes, kilobytes, bytes"
    )
    reply = await gw.admin("POST", "/plugins", {"name": "request-size-limiting"})
    assert reply.status == 201
    assert reply.json["config"] == {
        "allowed_payload_size": 128,
        "size_unit": "megabytes",
        "require_content_length": False,
    }
