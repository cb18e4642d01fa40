"""Values derived from configuration rows, computed on the rows' first use only.

Rows are never changed in place (a change makes a new row object; custom fields copy
what they change), so the rows' identities are the key. Each entry keeps its rows,
so their ids are not reused while it is cached.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


class RowMemo(Generic[T]):
    """A bounded memo of values by the identities of (up to two) rows they come from.

    :param limit: entries kept; past it the memo starts over (rows churn slowly).
    """

    __slots__ = ("_entries", "_limit")

    def __init__(self, limit: int = 1024) -> None:
        self._entries: dict[tuple[int, int, Hashable], tuple[Any, Any, T]] = {}
        self._limit = limit

    def get(self, first: Any, second: Any, extra: Hashable, build: Callable[[], T]) -> T:
        """The value for the rows ``first`` and ``second`` (``None`` when there is one)
        and ``extra`` (a plain value), built by ``build()`` the first time (the value is
        shared: read it, never change it). Two fixed slots, not a tuple of rows: this
        runs several times per logged or authenticated request."""
        key = (id(first), id(second), extra)
        found = self._entries.get(key)
        if found is not None and found[0] is first and found[1] is second:
            return found[2]
        value = build()
        entries = self._entries
        if len(entries) >= self._limit:
            entries.clear()
        entries[key] = (first, second, value)
        return value


__all__ = ["RowMemo"]
