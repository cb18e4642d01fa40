"""RowMemo: values derived from configuration rows, by the rows' identities."""

from __future__ import annotations

from kongtx.cache.row_memo import RowMemo


def test_built_once_per_rows_and_extra():
    memo: RowMemo[str] = RowMemo()
    service, route = {"name": "s"}, {"name": "r"}
    built = []

    def build() -> str:
        built.append(1)
        return f"{service['name']}/{route['name']}"

    assert memo.get(service, route, None, build) == "s/r"
    assert memo.get(service, route, None, build) == "s/r"
    assert len(built) == 1
    memo.get(service, route, "other", build)
    assert len(built) == 2


def test_an_equal_but_new_row_is_a_new_entry():
    """A changed row is a new object (rows are never changed in place): built again."""
    memo: RowMemo[str] = RowMemo()
    old = {"name": "a"}
    assert memo.get(old, None, None, lambda: "old") == "old"
    new = dict(old)
    assert memo.get(new, None, None, lambda: "new") == "new"


def test_the_memo_starts_over_past_its_limit():
    memo: RowMemo[int] = RowMemo(limit=2)
    rows = [{"i": i} for i in range(3)]
    for index, row in enumerate(rows):
        memo.get(row, None, None, lambda index=index: index)
    built = []
    assert memo.get(rows[0], None, None, lambda: built.append(1) or 0) == 0
    assert built == [1]  # cleared when the third entry came in
