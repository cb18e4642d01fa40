"""request-size-limiting: declared lengths, units, 411/413/417 and the streaming counter."""

from __future__ import annotations

import pytest
from twisted.python.failure import Failure

from kongtx.errors import ProxyExit, UpstreamFailure
from kongtx.http.body import BufferedBody, StreamBody
from kongtx.plugins.request_size_limiting.body import LimitedBody, RequestSizeExceeded
from kongtx.plugins.request_size_limiting.handler import RequestSizeLimitingHandler as Handler
from kongtx.plugins.request_size_limiting.handler import limit_bytes
from kongtx.plugins.testing import make_context
from kongtx.proxy.context import ProxyContext


def _ctx(headers: list[tuple[str, str]], body=None) -> ProxyContext:
    return make_context("POST", "/", headers, body)


def _conf(size=10, unit="bytes", require=False) -> dict:
    return {"allowed_payload_size": size, "size_unit": unit, "require_content_length": require}


def _run(conf: dict, ctx: ProxyContext) -> ProxyExit | None:
    try:
        Handler().access(ctx, conf)
    except ProxyExit as exc:
        return exc
    return None


class _Sink:
    def __init__(self) -> None:
        self.data = b""
        self.finished = False
        self.failure: Failure | None = None

    def write(self, data: bytes) -> None:
        self.data += data

    def finish(self) -> None:
        self.finished = True

    def fail(self, reason: Failure) -> None:
        self.failure = reason


@pytest.mark.parametrize(
    "size, unit, expected",
    [
        (128, "megabytes", 128 * 2**20),
        (3, "kilobytes", 3072),
        (7, "bytes", 7),
        (None, None, 128 * 2**20),
    ],
)
def test_units(size, unit, expected):
    """Sizes are megabytes, kilobytes (2^10) or bytes; the default is 128 MiB."""
    assert limit_bytes({"allowed_payload_size": size, "size_unit": unit}) == expected


def test_content_length_under_and_over():
    """Content-Length at the limit passes; over it is 413 Request size limit exceeded."""
    assert _run(_conf(), _ctx([("Content-Length", "10")], BufferedBody(b"x" * 10))) is None
    exc = _run(_conf(), _ctx([("Content-Length", "11")], BufferedBody(b"x" * 11)))
    assert (exc.status, exc.message) == (413, "Request size limit exceeded")


def test_expect_continue_is_417():
    """Over the limit with Expect: 100-continue answers 417."""
    exc = _run(_conf(), _ctx([("Content-Length", "11"), ("Expect", "100-Continue")]))
    assert (exc.status, exc.message) == (417, "Request size limit exceeded")


def test_require_content_length():
    """require_content_length: no Content-Length (and not chunked) is 411; chunked is counted."""
    exc = _run(_conf(require=True), _ctx([]))
    assert (exc.status, exc.message) == (411, "A valid Content-Length header is required")
    exc = _run(_conf(require=True), _ctx([("Content-Length", "abc")]))
    assert exc.status == 411
    ctx = _ctx([("Transfer-Encoding", "chunked")], StreamBody(None))
    assert _run(_conf(require=True), ctx) is None
    assert isinstance(ctx.request.body, LimitedBody)


def test_no_body_without_requirement_passes():
    """Without a body or requirement nothing happens."""
    assert _run(_conf(), _ctx([])) is None


def test_known_length_body_without_header():
    """A body of known length (buffered by a front-end) is checked at once."""
    assert (
        _run(_conf(), _ctx([("Transfer-Encoding", "chunked")], BufferedBody(b"y" * 11))).status
        == 413
    )
    assert _run(_conf(), _ctx([("Transfer-Encoding", "chunked")], BufferedBody(b"y" * 9))) is None


def test_complete_stream_checked_in_access():
    """A chunked body that already arrived whole is judged in access."""
    body = StreamBody(None)
    body.feed(b"z" * 20)
    body.end()
    assert _run(_conf(), _ctx([("Transfer-Encoding", "chunked")], body)).status == 413


def test_streaming_body_under_limit_passes_through():
    """The counting body forwards every byte and the end when under the limit."""
    source = StreamBody(None)
    ctx = _ctx([("Transfer-Encoding", "chunked")], source)
    assert _run(_conf(), ctx) is None
    sink = _Sink()
    ctx.request.body.start(sink)
    source.feed(b"12345")
    source.feed(b"67890")
    source.end()
    assert sink.data == b"1234567890" and sink.finished and sink.failure is None


def test_streaming_body_over_limit_fails_and_stops_source():
    """Crossing the limit fails the consumer with a 413 and stops the client body."""
    stopped = []
    source = StreamBody(None, stop=lambda: stopped.append(True))
    ctx = _ctx([("Transfer-Encoding", "chunked")], source)
    _run(_conf(), ctx)
    sink = _Sink()
    ctx.request.body.start(sink)
    source.feed(b"123456")
    source.feed(b"78901")
    source.feed(b"more")
    source.end()
    assert sink.data == b"123456"
    assert not sink.finished
    exc = sink.failure.value
    assert isinstance(exc, RequestSizeExceeded)
    assert isinstance(exc, UpstreamFailure) and isinstance(exc, ProxyExit)
    assert (exc.status, exc.message) == (413, "Request size limit exceeded")
    assert stopped == [True]


def test_streaming_expect_continue_fails_with_417():
    """The streaming failure carries 417 when the client sent Expect: 100-continue."""
    source = StreamBody(None)
    body = LimitedBody(source, 2, 417)
    sink = _Sink()
    body.start(sink)
    source.feed(b"abc")
    assert sink.failure.value.status == 417


def test_source_failure_is_passed_on():
    """A broken client body reaches the consumer as is."""
    source = StreamBody(None)
    body = LimitedBody(source, 100)
    sink = _Sink()
    body.start(sink)
    source.error(Failure(ConnectionError("gone")))
    assert sink.failure.check(ConnectionError)


def test_back_pressure_reaches_the_source():
    """pause/resume on the counting body pause/resume the client body."""
    calls = []
    source = StreamBody(
        None, pause=lambda: calls.append("pause"), resume=lambda: calls.append("resume")
    )
    body = LimitedBody(source, 100)
    body.start(_Sink())
    body.pauseProducing()
    body.resumeProducing()
    assert calls == ["pause", "resume"]
