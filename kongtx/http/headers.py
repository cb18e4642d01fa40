"""An ordered, case-insensitive multi-map of HTTP header fields.

Names keep the case they arrived with; lookups ignore case. Values are ``str``
decoded as latin-1, so bytes round-trip exactly.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import Iterable, Iterator

#: Decoded field names by their wire bytes: ``(lower-case name, name)``. Names repeat
#: from one message to the next, so most are decoded and lower-cased once per process.
_NAMES: dict[bytes, tuple[str, str]] = {}
#: Bound on :data:`_NAMES` (a client sending made-up names must not grow it for ever).
_NAMES_LIMIT = 512


def _decode_name(name: bytes) -> tuple[str, str]:
    """``(lower-case name, name)`` for a wire name, remembered while the cache has room."""
    text = name.decode("latin-1")
    pair = (text.lower(), text)
    if len(_NAMES) < _NAMES_LIMIT:
        _NAMES[name] = pair
    return pair


class Headers:
    """Ordered HTTP header fields with case-insensitive lookup.

    :param fields: initial ``(name, value)`` pairs (``str`` or latin-1 ``bytes``).
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: Iterable[tuple[str | bytes, str | bytes]] = ()) -> None:
        self._fields: list[tuple[str, str, str]] = []
        for name, value in fields:
            self.add(name, value)

    @classmethod
    def from_raw(cls, raw: list[tuple[bytes, bytes]]) -> Headers:
        """Build from parser output (latin-1 bytes pairs), without per-field checks."""
        headers = cls.__new__(cls)
        fields: list[tuple[str, str, str]] = []
        append = fields.append
        known = _NAMES.get
        for name, value in raw:
            pair = known(name)
            if pair is None:
                pair = _decode_name(name)
            append((pair[0], pair[1], value.decode("latin-1")))
        headers._fields = fields
        return headers

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of ``name``, or ``default``."""
        key = name.lower()
        for field in self._fields:
            if field[0] == key:
                return field[2]
        return default

    def get_all(self, name: str) -> list[str]:
        """Return every value of ``name``, in order."""
        key = name.lower()
        return [value for lname, _, value in self._fields if lname == key]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower()
        for field in self._fields:  # noqa: SIM110 - a plain loop is faster than any() on the hot path
            if field[0] == key:
                return True
        return False

    def count(self, name: str) -> int:
        """Return how many fields are named ``name``."""
        key = name.lower()
        return sum(1 for lname, _, _ in self._fields if lname == key)

    def add(self, name: str | bytes, value: str | bytes) -> None:
        """Append a field, keeping any existing ones."""
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        self._fields.append((name.lower(), name, value))

    def set(self, name: str, value: str) -> None:
        """Replace every field named ``name`` with one field, kept at the first one's place."""
        key = name.lower()
        fields = self._fields
        index = 0
        for field in fields:
            if field[0] == key:
                fields[index] = (key, name, value)
                index += 1
                if index < len(fields):
                    self._fields = fields[:index] + [f for f in fields[index:] if f[0] != key]
                return
            index += 1
        fields.append((key, name, value))

    def take(self, names: AbstractSet[str]) -> dict[str, list[str]]:
        """Remove, in one pass, every field whose lower-case name is in ``names``.

        :returns: the removed values by lower-case name, in order.
        """
        kept = []
        taken: dict[str, list[str]] = {}
        for field in self._fields:
            lname = field[0]
            if lname in names:
                values = taken.get(lname)
                if values is None:
                    taken[lname] = [field[2]]
                else:
                    values.append(field[2])
            else:
                kept.append(field)
        if taken:
            self._fields = kept
        return taken

    def extend(self, fields: list[tuple[str, str]]) -> None:
        """Append ``(name, value)`` pairs (``str``) without looking for existing ones."""
        self._fields += [(name.lower(), name, value) for name, value in fields]

    def remove(self, name: str) -> bool:
        """Remove every field named ``name``; return whether any was there."""
        key = name.lower()
        before = len(self._fields)
        self._fields = [f for f in self._fields if f[0] != key]
        return len(self._fields) != before

    def items(self) -> Iterator[tuple[str, str]]:
        """Yield ``(name, value)`` pairs with the names' original case."""
        for _, name, value in self._fields:
            yield name, value

    def lower_items(self) -> Iterator[tuple[str, str]]:
        """Yield ``(lower-case name, value)`` pairs."""
        for lname, _, value in self._fields:
            yield lname, value

    def wire_size(self) -> int:
        """The length of :meth:`to_wire` (``Name: value\\r\\n`` per field), without building it."""
        size = 4 * len(self._fields)
        for _, name, value in self._fields:
            size += len(name) + len(value)
        return size

    def entries(self) -> list[tuple[str, str, str]]:
        """The fields as ``(lower-case name, name, value)`` triples, in order (read only)."""
        return self._fields

    def raw(self) -> list[tuple[bytes, bytes]]:
        """Return the fields as latin-1 ``bytes`` pairs, for the wire."""
        return [(n.encode("latin-1"), v.encode("latin-1")) for _, n, v in self._fields]

    def to_wire(self) -> bytes:
        """Serialize as ``Name: value\\r\\n`` lines (no final blank line)."""
        return "".join([f"{n}: {v}\r\n" for _, n, v in self._fields]).encode("latin-1")

    def copy(self) -> Headers:
        """Return an independent copy."""
        headers = Headers.__new__(Headers)
        headers._fields = list(self._fields)
        return headers

    def to_dict(self) -> dict[str, str | list[str]]:
        """Lower-case names to a value, or a list for repeated fields (Kong's serializer shape)."""
        out: dict[str, str | list[str]] = {}
        for lname, _, value in self._fields:
            if lname in out:
                prev = out[lname]
                if isinstance(prev, list):
                    prev.append(value)
                else:
                    out[lname] = [prev, value]
            else:
                out[lname] = value
        return out

    def __len__(self) -> int:
        return len(self._fields)

    def __iter__(self) -> Iterator[str]:
        for _, name, _ in self._fields:
            yield name

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [(a, c) for a, _, c in self._fields] == [(a, c) for a, _, c in other._fields]

    def __repr__(self) -> str:
        return f"Headers({[(n, v) for _, n, v in self._fields]!r})"
