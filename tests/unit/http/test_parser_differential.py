"""Differential fuzz: the pure-Python parser against httptools (llhttp) on mutated messages.

Valid requests and responses are mutated (bytes inserted, deleted, replaced or
case-flipped from an alphabet of the characters HTTP framing turns on, framing
header lines inserted, the message cut short) with a fixed seed. For each case
both parsers must agree on accept/reject and, where they accept, on every
completed message (method, target, headers, body, version, keep-alive,
upgrade); the pure-Python parser must also say the same when the bytes arrive
in random pieces. Two differences are allowed, both where the pure parser refuses
and llhttp has not yet: a request line without an HTTP/1.x version (llhttp hands
kongtx a version-0.9 request that kongtx then refuses, 400), and a line llhttp
waits past (it decides on the byte after the line) but refuses whatever follows.
"""

from __future__ import annotations

import random
import re
from typing import Any

import httptools
import pytest

from kongtx.http.parser import _pure
from tests.unit.http.parser_harness import OK, REJECTED, parse

SEED = 20261205
CASES = 20000

REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;a=b\r\nhello\r\n3\r\nabc\r\n0\r\nX: y\r\n\r\n",
    b"GET http://a.b:80/p?q#f HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00",
    b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\nX-A: \t v \t\r\n\r\n",
]
RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: ws\r\nConnection: upgrade\r\n\r\nxx",
    b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n',
]
ALPHABET = [
    *(bytes([c]) for c in b'\r\n\t :;",=/?#@\\-aF0'),
    b"\x00",
    b"\x7f",
    b"\x80",
    b"\r\n",
]
FIELDS = [
    b"Content-Length: 3",
    b"Content-Length: 0",
    b"Content-Length: 3 ",
    b"Content-Length: 03",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip, chunked",
    b"Transfer-Encoding: chunked, gzip",
    b"Transfer-Encoding: identity",
    b"Connection: close",
    b"Connection: keep-alive",
    b"Connection: upgrade",
    b"Upgrade: h2c",
    b"Connection: Keep-Alive, Upgrade",
    b"X:",
    b" obs",
    b"X : y",
    b"Host: b",
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One to three random edits of ``data``."""
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(6)
        i = rng.randrange(len(data) + 1)
        if kind == 0:
            data = data[:i] + rng.choice(ALPHABET) + data[i:]
        elif kind == 1:
            data = data[:i] + data[i + 1 :]
        elif kind == 2:
            data = data[:i] + rng.choice(ALPHABET) + data[i + 1 :]
        elif kind == 3:
            line_end = data.find(b"\r\n")
            if line_end > 0:
                field = rng.choice(FIELDS) + b"\r\n"
                data = data[: line_end + 2] + field + data[line_end + 2 :]
        elif kind == 4:
            data = data[:i]
        else:
            data = data[:i] + data[i : i + 1].swapcase() + data[i + 1 :]
    return data


def completed(result: tuple[str, list[Any], Any]) -> tuple[str, list[Any], Any]:
    """Events up to the last completed message (an unfinished one is reported at
    different moments: llhttp streams a header at the next line, the pure parser at its end)."""
    outcome, events, offset = result
    if outcome != OK:
        return result
    last = max((i for i, event in enumerate(events) if event[0] == "complete"), default=-1)
    return outcome, events[: last + 1], offset


def refused_by_kongtx_anyway(data: bytes, pure_events: list[Any]) -> bool:
    """Whether llhttp reads the request the pure parser refused as one without an
    HTTP/1.x version (HTTP/0.9, 2.0), which the server refuses with 400 or 505."""
    failing = sum(1 for event in pure_events if event[0] == "complete")
    outcome, events, _ = parse(httptools.HttpRequestParser, data)
    heads = [event for event in events if event[0] == "headers_complete"]
    if len(heads) > failing:
        return heads[failing][1] not in ("1.0", "1.1")
    if failing == 0:
        head = data.lstrip(b"\r\n")
        line, newline, _ = head.partition(b"\n")
        if newline and re.search(rb" HTTP/[0-9]\.[0-9]\r?$", line) is None:
            return True  # a first request line that ended without a version: HTTP/0.9
    urls = [event[1] for event in events if event[0] == "url"]
    if outcome == OK and urls:
        at = data.rfind(urls[-1])
        rest = data[at + len(urls[-1]) :]
        if at >= 0 and (rest[:1] in (b"\r", b"\n") or (events[-1][0] == "url" and b"\n" in rest)):
            return True  # the request line ended right after the target: HTTP/0.9
    for end in (b"\r\n\r\n", b"\n\r\n\r\n"):  # what llhttp makes of the head, ended
        _, events, _ = parse(httptools.HttpRequestParser, data + end)
        heads = [event for event in events if event[0] == "headers_complete"]
        if len(heads) > failing and heads[failing][1] not in ("1.0", "1.1"):
            return True
    return False


#: Bytes that may come next, to see whether llhttp, still waiting, refuses whatever follows.
CONTINUATIONS = (b"\r\n", b"\r\n\r\n", b"X: y\r\n\r\n", b" ", b"a", b"0\r\n\r\n")


def refused_by_llhttp_next(parser_class: Any, data: bytes) -> bool:
    """Whether llhttp, which waits at the end of ``data``, refuses every continuation
    (the pure parser may then refuse already: it decides at the end of a line)."""
    return all(parse(parser_class, data + more)[0] == REJECTED for more in CONTINUATIONS)


def _cases() -> list[tuple[bool, bytes, list[int]]]:
    rng = random.Random(SEED)
    cases = []
    for _ in range(CASES):
        response = rng.random() < 0.4
        data = mutate(rng, rng.choice(RESPONSES if response else REQUESTS))
        count = max(0, min(len(data) - 1, rng.randint(1, 4)))
        cases.append((response, data, sorted(rng.sample(range(1, len(data)), count))))
    return cases


@pytest.mark.parametrize("batch", range(4))
def test_parsers_agree_on_mutated_messages(batch: int) -> None:
    """httptools and the pure-Python parser agree on every mutated request and response."""
    cases = _cases()[batch::4]
    disagreements = []
    refused = accepted = 0
    for response, data, cuts in cases:
        if response:
            llhttp_class: Any = httptools.HttpResponseParser
            pure_class: Any = _pure.HttpResponseParser
        else:
            llhttp_class, pure_class = httptools.HttpRequestParser, _pure.HttpRequestParser
        expected = completed(parse(llhttp_class, data))
        whole = completed(parse(pure_class, data))
        pieces = completed(parse(pure_class, data, cuts))
        same = expected == whole or expected[0] == whole[0] == REJECTED
        if not same and whole[0] == REJECTED:
            same = (expected[0] == OK and refused_by_llhttp_next(llhttp_class, data)) or (
                not response and refused_by_kongtx_anyway(data, whole[1])
            )
        if not same or not (pieces == whole or pieces[0] == whole[0] == REJECTED):
            disagreements.append((data, cuts, expected, whole, pieces))
        refused += whole[0] == REJECTED
        accepted += whole[0] != REJECTED
    assert disagreements == [], disagreements[:3]
    # The mutations reach both sides of the grammar.
    assert refused > len(cases) // 5 and accepted > len(cases) // 5
