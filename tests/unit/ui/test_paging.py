"""Pages of a list and their links (which keep the list's filters)."""

from __future__ import annotations

from slipway.ui.paging import limit_for, page_of


def test_pages_know_whether_another_follows() -> None:
    rows = list(range(120))
    assert limit_for(2, 50) == 101
    second = page_of(rows[: limit_for(2, 50)], 2, 50, [("actor", "ann"), ("model", "")])
    assert second.items == list(range(50, 100))
    assert second.has_next
    assert second.link(3) == "?actor=ann&page=3"
    last = page_of(rows, 3, 50)
    assert last.items == list(range(100, 120))
    assert not last.has_next
    assert page_of(rows, 0, 50).number == 1
