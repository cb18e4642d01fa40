"""Headers: the fast paths (from_raw's name cache, set, entries) keep the public behaviour."""

from __future__ import annotations

import pytest

from kongtx.http import headers as headers_module
from kongtx.http.headers import Headers


def test_from_raw_keeps_case_order_and_latin1_values() -> None:
    raw = [(b"Content-Type", b"text/plain"), (b"X-A", b"caf\xe9"), (b"x-a", b"2")]
    headers = Headers.from_raw(raw)
    assert list(headers.items()) == [("Content-Type", "text/plain"), ("X-A", "café"), ("x-a", "2")]
    assert headers.get_all("X-a") == ["café", "2"]
    assert headers.raw() == raw
    assert Headers.from_raw(raw) == headers  # the second build comes from the name cache


def test_name_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    cache: dict[bytes, tuple[str, str]] = {}
    monkeypatch.setattr(headers_module, "_NAMES", cache)
    monkeypatch.setattr(headers_module, "_NAMES_LIMIT", 3)
    raw = [(b"X-Name-%d" % index, b"v") for index in range(10)]
    headers = Headers.from_raw(raw)
    assert len(cache) == 3
    assert [name for name, _ in headers.items()] == [f"X-Name-{index}" for index in range(10)]
    assert headers.get("x-name-9") == "v"


def test_set_replaces_first_and_drops_later_ones() -> None:
    headers = Headers([("A", "1"), ("B", "2"), ("a", "3"), ("C", "4"), ("A", "5")])
    headers.set("a", "x")
    assert list(headers.items()) == [("a", "x"), ("B", "2"), ("C", "4")]
    headers.set("C", "y")
    assert list(headers.items()) == [("a", "x"), ("B", "2"), ("C", "y")]
    headers.set("D", "z")
    assert list(headers.items())[-1] == ("D", "z")


def test_entries_are_lower_name_name_value() -> None:
    headers = Headers([("Content-Length", "3")])
    assert headers.entries() == [("content-length", "Content-Length", "3")]
