"""Pages of a list: fetch one row more than shown to know whether a next page exists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlencode

T = TypeVar("T")
PER_PAGE = 50


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    number: int
    has_next: bool
    query: tuple[tuple[str, str], ...] = ()
    """The list's other query parameters (its filters), kept by the page links."""

    def link(self, number: int) -> str:
        return "?" + urlencode([*self.query, ("page", str(number))])


def limit_for(number: int, per_page: int = PER_PAGE) -> int:
    """How many rows to fetch (newest first) to show page ``number`` and know about the next."""
    return max(1, number) * per_page + 1


def page_of(
    rows: Sequence[T],
    number: int,
    per_page: int = PER_PAGE,
    query: Sequence[tuple[str, str]] = (),
) -> Page[T]:
    number = max(1, number)
    start = (number - 1) * per_page
    return Page(
        list(rows[start : start + per_page]),
        number,
        len(rows) > start + per_page,
        tuple((k, v) for k, v in query if v),
    )
