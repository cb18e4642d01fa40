"""Query-argument helpers for Admin API lists: size, tags and ``next``."""

from __future__ import annotations

import math
import re
from urllib.parse import quote

from kongtx.errors import InvalidOptions, InvalidSize

__all__ = ["DEFAULT_SIZE", "MAX_SIZE", "escape_uri", "next_url", "parse_size", "parse_tags"]

DEFAULT_SIZE = 100
MAX_SIZE = 1000
MAX_TAGS = 5

# Printable ASCII except ',' and '/', plus non-ASCII bytes of UTF-8 sequences
# (the byte ranges of Kong's TAGS_AND_REGEX / TAGS_OR_REGEX).
_TAG_BYTES = rb"[\x20-\x2b\x2d\x2e\x30-\x7e\x80-\xf4]+"
_TAGS_AND = re.compile(rb"(?:" + _TAG_BYTES + rb"(?:,|$))+\Z")
_TAGS_OR = re.compile(rb"(?:" + _TAG_BYTES + rb"(?:/|$))+\Z")


def escape_uri(value: str) -> str:
    """Percent-encode like ``ngx.escape_uri`` (unreserved characters kept)."""
    return quote(value, safe="-_.~")


def parse_size(raw: str | None) -> int:
    """Validate the ``size`` query argument.

    :returns: the page size (100 when absent).
    :raises InvalidSize: with Kong's messages.
    """
    if raw is None:
        return DEFAULT_SIZE
    try:
        size = float(raw.strip())
    except ValueError:
        raise InvalidSize("size must be a number") from None
    if math.isnan(size) or not size.is_integer() or not 1 <= size <= MAX_SIZE:
        raise InvalidSize(f"size must be an integer between 1 and {MAX_SIZE}")
    return int(size)


def _invalid_tags(reason: str) -> InvalidOptions:
    return InvalidOptions(f"invalid option (tags: {reason})", options={"tags": reason})


def parse_tags(raw: bytes | None) -> tuple[list[str] | None, str]:
    """Parse ``?tags=``: ``a,b`` is AND, ``a/b`` is OR, mixing is an error.

    :param raw: the percent-decoded query value as bytes, or ``None``.
    :returns: ``(tags, cond)``; ``(None, "and")`` when absent.
    :raises InvalidOptions: code 11 with Kong's messages.
    """
    if raw is None:
        return None, "and"
    if raw == b"":
        raise _invalid_tags("cannot be null")
    if _TAGS_AND.match(raw):
        cond, parts = "and", raw.split(b",")
    elif _TAGS_OR.match(raw):
        cond, parts = "or", raw.split(b"/")
    else:
        raise _invalid_tags("invalid filter syntax")
    try:
        tags = [p.decode("utf-8") for p in parts if p]
    except UnicodeDecodeError:
        raise _invalid_tags("invalid filter syntax") from None
    if len(tags) > MAX_TAGS:
        raise _invalid_tags(f"cannot query more than {MAX_TAGS} tags")
    return tags, cond


def next_url(
    base: str, offset: str | None, *, tags: str | None = None, size: str | None = None
) -> str | None:
    """Build the ``next`` link of a list page.

    :param base: the collection path, e.g. ``/services``.
    :param offset: the token of the next page, or ``None`` on the last page.
    :param tags: the raw ``tags`` argument to propagate (top-level lists only).
    :param size: the raw ``size`` argument to propagate (top-level lists only).
    """
    if offset is None:
        return None
    url = f"{base}?offset={escape_uri(offset)}"
    if tags is not None:
        url += "&tags=" + escape_uri(tags)
    if size is not None:
        url += "&size=" + size
    return url
