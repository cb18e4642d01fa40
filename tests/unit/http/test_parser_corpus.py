"""The shared hostile-input corpus against both HTTP/1.1 parsers, with the same expectations.

Each case runs through httptools (llhttp, strict) and the pure-Python parser,
fed whole and one byte at a time: what one refuses the other refuses, and what
both accept they report the same way (method, target, headers, body, version,
keep-alive, upgrade and where the upgraded bytes start).
"""

from __future__ import annotations

from typing import Any

import httptools
import pytest

from kongtx.http.parser import _pure
from tests.unit.http import hostile_corpus as corpus
from tests.unit.http.parser_harness import REJECTED, parse

REQUEST_PARSERS = {"httptools": httptools.HttpRequestParser, "python": _pure.HttpRequestParser}
RESPONSE_PARSERS = {"httptools": httptools.HttpResponseParser, "python": _pure.HttpResponseParser}


def _bytewise(data: bytes) -> list[int]:
    return list(range(1, len(data)))


@pytest.mark.parametrize("parser", sorted(REQUEST_PARSERS))
@pytest.mark.parametrize("name", sorted(corpus.PARSER_REJECTS))
def test_request_refused(parser: str, name: str) -> None:
    """Both parsers refuse the hostile request, whole and byte by byte."""
    data = corpus.PARSER_REJECTS[name]
    assert parse(REQUEST_PARSERS[parser], data)[0] == REJECTED
    assert parse(REQUEST_PARSERS[parser], data, _bytewise(data))[0] == REJECTED


@pytest.mark.parametrize("parser", sorted(RESPONSE_PARSERS))
@pytest.mark.parametrize("name", sorted(corpus.RESPONSE_REJECTS))
def test_response_refused(parser: str, name: str) -> None:
    """Both parsers refuse the hostile response, whole and byte by byte."""
    data = corpus.RESPONSE_REJECTS[name]
    assert parse(RESPONSE_PARSERS[parser], data)[0] == REJECTED
    assert parse(RESPONSE_PARSERS[parser], data, _bytewise(data))[0] == REJECTED


def _same_everywhere(parsers: dict[str, Any], data: bytes) -> tuple[Any, ...]:
    reference = parse(parsers["httptools"], data)
    assert reference[0] != REJECTED, reference
    for cls in parsers.values():
        assert parse(cls, data) == reference
        assert parse(cls, data, _bytewise(data)) == reference
    return reference


@pytest.mark.parametrize("name", sorted(corpus.PARSER_ACCEPTS))
def test_request_accepted_alike(name: str) -> None:
    """Both parsers accept the edge case and report the same events."""
    _same_everywhere(REQUEST_PARSERS, corpus.PARSER_ACCEPTS[name])


@pytest.mark.parametrize("name", sorted(corpus.RESPONSE_ACCEPTS))
def test_response_accepted_alike(name: str) -> None:
    """Both parsers accept the edge-case response and report the same events."""
    _same_everywhere(RESPONSE_PARSERS, corpus.RESPONSE_ACCEPTS[name])


def test_bad_requests_refused_by_parser_or_server_checks() -> None:
    """Every request the server must answer 400 is refused by both parsers alike, or by
    neither (then the server's own checks refuse it, tests/unit/http/test_server_hostile.py)."""
    for name, data in corpus.BAD_REQUESTS.items():
        outcomes = {parse(cls, data)[0] == REJECTED for cls in REQUEST_PARSERS.values()}
        refused_by_python = parse(_pure.HttpRequestParser, data)[0] == REJECTED
        # The pure-Python parser refuses HTTP/0.9 request lines itself (llhttp passes them
        # on as version 0.9, which the server refuses); nothing else may differ.
        if name.startswith("http09"):
            assert refused_by_python, name
            continue
        assert len(outcomes) == 1, name


def test_upgrade_offset_and_events() -> None:
    """An upgrade stops both parsers at the same byte with the same events."""
    data = corpus.PARSER_ACCEPTS["upgrade"]
    outcome, events, offset = _same_everywhere(REQUEST_PARSERS, data)
    assert outcome == "upgraded" and data[offset:] == b"\x81\x00"
    assert events[-2][-1] is True  # should_upgrade() in on_headers_complete


def test_callback_error_keeps_its_cause() -> None:
    """An exception in a callback surfaces as HttpParserCallbackError with it as context."""

    class Boom(Exception):
        pass

    class Callbacks:
        def on_url(self, url: bytes) -> None:
            raise Boom(url)

    for cls in REQUEST_PARSERS.values():
        with pytest.raises(httptools.HttpParserCallbackError) as info:
            cls(Callbacks()).feed_data(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        assert isinstance(info.value.__context__, Boom)


def test_trailer_content_length_allowed_when_lenient() -> None:
    """``set_dangerous_leniencies(lenient_chunked_length=True)`` lets a trailer carry a
    Content-Length (kongtx drops it), in both parsers."""
    data = corpus.PARSER_REJECTS["trailer_content_length"]

    class Callbacks:
        def __init__(self, cls: Any) -> None:
            self.parser = cls(self)
            self.body: list[bytes] = []

        def on_headers_complete(self) -> None:
            self.parser.set_dangerous_leniencies(lenient_chunked_length=True)

        def on_body(self, body: bytes) -> None:
            self.body.append(body)

    for cls in REQUEST_PARSERS.values():
        callbacks = Callbacks(cls)
        callbacks.parser.feed_data(data)
        assert callbacks.body == [b"hello"]


def test_partial_lines_are_refused_early() -> None:
    """A line that cannot become valid is refused before it ends, as llhttp does."""
    for prefix in (b"GET /a\x01", b"get", b"GET / HTTP/1.1\r\nX y", b"GET / HTTP/1.2"):
        for cls in REQUEST_PARSERS.values():
            assert parse(cls, prefix)[0] == REJECTED, (cls, prefix)


def test_long_lines_fed_in_pieces() -> None:
    """Lines longer than the pure parser's full-check window (2 KiB) still parse the same,
    a long target is handed over while it grows, and a bare CR deep in a long header
    value is refused before the line ends."""
    target = b"/" + b"a" * 5000
    head = b"GET " + target + b" HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 5000 + b"\r\n\r\n"
    pieces = list(range(100, len(head), 700))
    for cls in REQUEST_PARSERS.values():
        outcome, events, _ = parse(cls, head, pieces)
        assert outcome == "ok" and events[1] == ("url", target)
        assert ("header", b"X", b"v" * 5000) in events
        unfinished = b"GET / HTTP/1.1\r\nX: " + b"v" * 3000
        assert parse(cls, unfinished + b"\rv", [1000, 2500, len(unfinished)])[0] == REJECTED

    class Targets:
        def __init__(self) -> None:
            self.parts: list[bytes] = []

        def on_url(self, url: bytes) -> None:
            self.parts.append(url)

    callbacks = Targets()
    parser = _pure.HttpRequestParser(callbacks)
    for start in range(0, 4 + len(target), 1000):
        parser.feed_data((b"GET " + target)[start : start + 1000])
    assert b"".join(callbacks.parts) == target and len(callbacks.parts) > 1
