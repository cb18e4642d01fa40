"""Unit tests for list arguments: size, tags and next links."""

from __future__ import annotations

import pytest

from kongtx.admin.paging import next_url, parse_size, parse_tags
from kongtx.errors import InvalidOptions, InvalidSize


def test_size_default_and_bounds() -> None:
    """Absent size is 100; 1 and 1000 are accepted."""
    assert parse_size(None) == 100
    assert parse_size("1") == 1 and parse_size("1000") == 1000


@pytest.mark.parametrize(
    "raw,message",
    [
        ("abc", "size must be a number"),
        ("0", "size must be an integer between 1 and 1000"),
        ("1001", "size must be an integer between 1 and 1000"),
        ("1.5", "size must be an integer between 1 and 1000"),
    ],
)
def test_bad_size(raw: str, message: str) -> None:
    """Bad sizes raise code 9 with Kong's messages."""
    with pytest.raises(InvalidSize) as info:
        parse_size(raw)
    assert info.value.to_body() == {"code": 9, "name": "invalid size", "message": message}


def test_tags_and_or() -> None:
    """Comma means AND, slash means OR, a single tag is AND."""
    assert parse_tags(b"a,b") == (["a", "b"], "and")
    assert parse_tags(b"a/b") == (["a", "b"], "or")
    assert parse_tags(b"solo") == (["solo"], "and")
    assert parse_tags("🦍".encode()) == (["🦍"], "and")
    assert parse_tags(None) == (None, "and")


@pytest.mark.parametrize(
    "raw,reason",
    [
        (b"a,b/c", "invalid filter syntax"),
        (b"a/b,c", "invalid filter syntax"),
        (b"\xff", "invalid filter syntax"),
        (b"", "cannot be null"),
        (b"1,2,3,4,5,6", "cannot query more than 5 tags"),
    ],
)
def test_bad_tags(raw: bytes, reason: str) -> None:
    """Invalid tag filters raise code 11 with an options object."""
    with pytest.raises(InvalidOptions) as info:
        parse_tags(raw)
    assert info.value.to_body() == {
        "code": 11,
        "name": "invalid options",
        "message": f"invalid option (tags: {reason})",
        "options": {"tags": reason},
    }


def test_next_url() -> None:
    """next escapes the offset and propagates tags then size; None on the last page."""
    assert next_url("/services", None) is None
    assert (
        next_url("/services", "a+b/=", tags="t1,t2", size="2")
        == "/services?offset=a%2Bb%2F%3D&tags=t1%2Ct2&size=2"
    )
