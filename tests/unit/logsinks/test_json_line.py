"""json_line: the same bytes as ``json.JSONEncoder(separators=(",", ":"), default=str)``."""

from __future__ import annotations

import datetime
import json
import math
from typing import Any

import pytest

from kongtx.logsinks.plugin import json_line

_reference = json.JSONEncoder(separators=(",", ":"), default=str).encode

ROUTE = {"id": "r1", "name": "bench", "paths": ["/"], "service": {"id": "s1"}}
SERVICE = {"id": "s1", "port": 80, "tls_verify": None, "enabled": True}
CONSUMER = {"id": "c1", "username": "ünïcode", "custom_id": None}


def _expected(entry: dict[str, Any]) -> bytes:
    """The reference encoding with the rows moved last (json_line's documented order)."""
    rows = [k for k in ("route", "service", "consumer") if type(entry.get(k)) is dict]
    ordered = {k: v for k, v in entry.items() if k not in rows}
    ordered.update((k, entry[k]) for k in rows)
    return _reference(ordered).encode()


@pytest.mark.parametrize(
    "entry",
    [
        {},
        {"route": ROUTE},
        {"route": ROUTE, "service": SERVICE, "consumer": CONSUMER, "a": 1},
        {"consumer": CONSUMER, "request": {"headers": {"x": ["1", "2"]}}, "route": None},
        {"service": SERVICE, "text": 'é\u2028"\\\n', "f": 1.5, "inf": math.inf, "b": False},
        {"keys": {3: "int", 2.5: "float", None: "null", False: "bool"}, "t": (1, 2)},
        {"when": datetime.datetime(2020, 1, 2, 3, 4, 5), "route": "not a row"},
    ],
)
def test_json_line_matches_the_reference_encoder(entry: dict[str, Any]) -> None:
    assert json_line(entry) == _expected(entry)


def test_rows_changed_by_copy_are_encoded_anew() -> None:
    first = json_line({"consumer": CONSUMER})
    changed = dict(CONSUMER, username="other")
    assert json_line({"consumer": changed}) == _reference({"consumer": changed}).encode()
    assert json_line({"consumer": CONSUMER}) == first


def test_a_cyclic_entry_raises() -> None:
    entry: dict[str, Any] = {"a": {}}
    entry["a"]["self"] = entry
    with pytest.raises((ValueError, RecursionError)):
        json_line(entry)
