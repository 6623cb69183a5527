"""List parameters shared by every list endpoint: ``limit``, ``page_token`` and ``order_by``.

A page token is opaque to clients (base64 of the next offset); ``order_by`` is ``field`` or
``field asc|desc`` among the fields each endpoint names. Filtering and sorting happen over the
repository's result (bounded by :data:`MAX_SCAN`), which keeps the store's interface small.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from slipway.core.errors import InvalidInput

T = TypeVar("T")
MAX_LIMIT = 1000
MAX_SCAN = 100_000
"""Rows read for one listing at most: the bound of in-memory filtering and sorting."""


class InvalidListParameter(InvalidInput):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class PageQuery:
    limit: int
    page_token: str | None
    order_by: str | None

    @property
    def offset(self) -> int:
        return decode_token(self.page_token)


def page_query(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 100,
    page_token: Annotated[
        str | None,
        Query(max_length=200, description="`next_page_token` of the previous page."),
    ] = None,
    order_by: Annotated[
        str | None,
        Query(max_length=100, description="`field` or `field asc|desc`."),
    ] = None,
) -> PageQuery:
    return PageQuery(limit, page_token, order_by)


Paging = Annotated[PageQuery, Depends(page_query)]


def encode_token(offset: int) -> str:
    raw = json.dumps({"offset": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        offset = json.loads(raw)["offset"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise InvalidListParameter("page_token", "invalid page_token") from None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidListParameter("page_token", "invalid page_token")
    return offset


def sort_spec(order_by: str | None, fields: Sequence[str], default: str) -> tuple[str, bool]:
    """``(field, descending)`` from an ``order_by`` value."""
    text = (order_by or default).strip()
    parts = text.split()
    name = parts[0] if parts else ""
    direction = parts[1].lower() if len(parts) > 1 else "asc"
    if len(parts) > 2 or name not in fields or direction not in ("asc", "desc"):
        raise InvalidListParameter(
            "order_by",
            f"invalid order_by {text!r}: use one of {', '.join(fields)}, optionally "
            "followed by asc or desc",
        )
    return name, direction == "desc"


def paginate(
    items: Sequence[T],
    page: PageQuery,
    keys: Mapping[str, Callable[[T], Any]],
    default: str,
) -> tuple[list[T], str | None]:
    """One page of ``items`` sorted as ``page.order_by`` asks, and the next page's token."""
    name, descending = sort_spec(page.order_by, list(keys), default)
    key = keys[name]
    present = [i for i in items if key(i) is not None]
    missing = [i for i in items if key(i) is None]  # None sorts last either way
    ordered = sorted(present, key=key, reverse=descending) + missing
    start = page.offset
    chunk = ordered[start : start + page.limit]
    more = start + page.limit < len(ordered)
    return chunk, encode_token(start + page.limit) if more else None


class PageOf(BaseModel):
    """Base of every list response: ``items`` plus ``next_page_token`` (null on the last)."""

    next_page_token: str | None = None
