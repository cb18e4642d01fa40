"""Hostile and malformed input to the native server: rejected, handler never called."""

from __future__ import annotations

import pytest

from tests.unit.http.hostile_corpus import BAD_REQUESTS, H
from tests.unit.http.test_server import GET, Recorder, answer, connect, parse_responses

#: Every test here runs with both parsers (httptools and the pure-Python one).
pytestmark = pytest.mark.usefixtures("http_parser")


def assert_rejected(transport, rec, status: int, body: bytes | None = None) -> None:  # type: ignore[no-untyped-def]
    """The only response is ``status`` with Connection: close; the handler was never called."""
    assert rec.calls == []
    (resp,) = parse_responses(transport.value())
    assert resp.status == status
    assert resp.headers["connection"] == "close"
    assert resp.headers["content-type"] == "text/plain; charset=utf-8"
    if body is not None:
        assert resp.body == body
    assert transport.disconnecting


@pytest.mark.parametrize("name", sorted(BAD_REQUESTS))
def test_bad_request_rejected(name: str) -> None:
    """Malformed or ambiguous requests get 400 and a close, never reaching the handler."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(BAD_REQUESTS[name])
    assert_rejected(transport, rec, 400, b"Bad request\n")


@pytest.mark.parametrize(
    "name", ["cl_and_te", "bare_lf", "obs_fold", "invalid_chunk_size", "http09_line_only"]
)
def test_bad_request_byte_by_byte(name: str) -> None:
    """The same rejections hold when the request arrives one byte at a time."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    data = BAD_REQUESTS[name]
    for i in range(len(data)):
        proto.dataReceived(data[i : i + 1])
    if name == "invalid_chunk_size":
        # The head was valid and complete before the body broke: the core had it.
        assert len(rec.calls) == 1
        (resp,) = parse_responses(transport.value())
        assert resp.status == 400 and transport.disconnecting
    else:
        assert_rejected(transport, rec, 400)


def test_http2_version_line() -> None:
    """An HTTP/2.0 request line over HTTP/1 gets 505."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(b"GET / HTTP/2.0\r\n" + H + b"\r\n")
    assert_rejected(transport, rec, 505)


def test_connect_not_allowed() -> None:
    """CONNECT is refused with 405, as nginx does."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n")
    assert_rejected(transport, rec, 405)


def test_header_section_too_large() -> None:
    """A header section over max_header_size gets Kong's 400 'Request header or cookie too large'."""
    rec = Recorder()
    proto, transport, _ = connect(rec, max_header_size=1024)
    proto.dataReceived(b"GET / HTTP/1.1\r\n" + H + b"Cookie: " + b"c" * 1100 + b"\r\n\r\n")
    assert_rejected(transport, rec, 400, b"Request header or cookie too large\n")


def test_header_section_just_fits() -> None:
    """A head just under max_header_size is accepted."""
    rec = Recorder()
    proto, _transport, _ = connect(rec, max_header_size=1024)
    proto.dataReceived(b"GET / HTTP/1.1\r\n" + H + b"Cookie: " + b"c" * 900 + b"\r\n\r\n")
    assert len(rec.calls) == 1


def test_unfinished_huge_header_line_bounded() -> None:
    """A single header line that never ends is cut off once it exceeds the limit plus one read."""
    rec = Recorder()
    proto, transport, _ = connect(rec, max_header_size=1024)
    proto.dataReceived(b"GET / HTTP/1.1\r\n" + H + b"X: ")
    for _ in range(40):
        if transport.disconnecting:
            break
        proto.dataReceived(b"v" * 4096)
    assert_rejected(transport, rec, 400, b"Request header or cookie too large\n")


def test_too_many_headers() -> None:
    """More than max_headers header fields get 400."""
    rec = Recorder()
    proto, transport, _ = connect(rec, max_headers=10)
    proto.dataReceived(
        b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(10)) + b"\r\n"
    )
    assert_rejected(transport, rec, 400, b"Request header or cookie too large\n")


def test_uri_too_long() -> None:
    """A request-target longer than max_header_size gets 414."""
    rec = Recorder()
    proto, transport, _ = connect(rec, max_header_size=1024)
    proto.dataReceived(b"GET /" + b"a" * 600)
    proto.dataReceived(b"a" * 600 + b" HTTP/1.1\r\n" + H + b"\r\n")
    assert_rejected(transport, rec, 414, b"URI too long\n")


def test_content_length_over_max_body() -> None:
    """A declared Content-Length over max_body_size gets 413 before the handler."""
    rec = Recorder()
    proto, transport, _ = connect(rec, max_body_size=10)
    proto.dataReceived(b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 11\r\n\r\n")
    assert_rejected(transport, rec, 413, b"Payload too large\n")


def test_chunked_body_over_max_body() -> None:
    """A chunked body over max_body_size in the first read gets 413 before the handler."""
    rec = Recorder()
    proto, transport, _ = connect(rec, max_body_size=10)
    proto.dataReceived(
        b"POST / HTTP/1.1\r\n"
        + H
        + b"Transfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nghijkl\r\n"
    )
    assert_rejected(transport, rec, 413)


def test_body_at_max_size_accepted() -> None:
    """A body of exactly max_body_size passes."""
    rec = Recorder()
    proto, _transport, _ = connect(rec, max_body_size=10)
    proto.dataReceived(b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 10\r\n\r\n0123456789")
    assert len(rec.calls) == 1


def test_trailers_ignored() -> None:
    """Chunked trailer fields do not leak into the request headers."""
    rec = Recorder()
    proto, _transport, _ = connect(rec)
    proto.dataReceived(
        b"POST / HTTP/1.1\r\n"
        + H
        + b"Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-T: 1\r\n\r\n"
    )
    assert "X-T" not in rec.requests[0].headers


def test_bad_request_after_pipelined_good_one() -> None:
    """A bad request pipelined behind a good one is answered after it, then the connection closes."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(GET + BAD_REQUESTS["cl_and_te"])
    assert len(rec.calls) == 1 and not transport.disconnecting
    answer(rec.calls[0][1], body=b"first")
    resps = parse_responses(transport.value())
    assert [(r.status, r.body) for r in resps] == [(200, b"first"), (400, b"Bad request\n")]
    assert transport.disconnecting and len(rec.calls) == 1


def test_data_after_rejection_ignored() -> None:
    """Bytes after a rejected request are not parsed."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(BAD_REQUESTS["bare_lf"])
    proto.dataReceived(GET)
    assert_rejected(transport, rec, 400)


def test_content_length_with_trailing_whitespace_accepted() -> None:
    """RFC 9112: ``Content-Length: 5`` followed by spaces or tabs is valid (OWS)."""
    for padding in (b" ", b"\t", b" \t "):
        rec = Recorder()
        proto, transport, _ = connect(rec)
        proto.dataReceived(
            b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5" + padding + b"\r\n\r\nhello"
        )
        assert len(rec.calls) == 1 and not transport.disconnecting
        assert rec.requests[0].body.length == 5


def test_content_length_in_trailer_dropped() -> None:
    """A Content-Length field in a chunked trailer is dropped, not a framing error; the
    next request on the connection is still checked for CL + TE."""
    rec = Recorder()
    proto, transport, _ = connect(rec)
    proto.dataReceived(
        b"POST / HTTP/1.1\r\n"
        + H
        + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"
    )
    assert len(rec.calls) == 1 and not transport.disconnecting
    assert "Content-Length" not in rec.requests[0].headers
    answer(rec.calls[0][1], body=b"first")
    proto.dataReceived(BAD_REQUESTS["cl_and_te"])
    resps = parse_responses(transport.value())
    assert [r.status for r in resps] == [200, 400] and transport.disconnecting
