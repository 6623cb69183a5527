"""Page tokens, order_by and paginate."""

from __future__ import annotations

import pytest

from slipway.api.pagination import (
    InvalidListParameter,
    PageQuery,
    decode_token,
    encode_token,
    paginate,
)

KEYS = {"n": lambda x: x[0], "name": lambda x: x[1]}
ITEMS = [(3, "c"), (1, None), (2, "a"), (4, "b")]


def test_tokens_round_trip_and_bad_ones_name_the_field() -> None:
    assert decode_token(encode_token(40)) == 40
    assert decode_token(None) == 0
    for bad in ("!!", "eyJ4IjoxfQ", encode_token(0)[:-2] + "zz"):
        with pytest.raises(InvalidListParameter) as err:
            decode_token(bad)
        assert err.value.field == "page_token"


def test_pages_follow_the_order_and_end_with_no_token() -> None:
    first, token = paginate(ITEMS, PageQuery(2, None, "n desc"), KEYS, "n")
    assert first == [(4, "b"), (3, "c")]
    second, end = paginate(ITEMS, PageQuery(2, token, "n desc"), KEYS, "n")
    assert second == [(2, "a"), (1, None)]
    assert end is None


def test_missing_values_sort_last_both_ways() -> None:
    up, _ = paginate(ITEMS, PageQuery(10, None, "name"), KEYS, "n")
    down, _ = paginate(ITEMS, PageQuery(10, None, "name desc"), KEYS, "n")
    assert [i[1] for i in up] == ["a", "b", "c", None]
    assert [i[1] for i in down] == ["c", "b", "a", None]


@pytest.mark.parametrize("order_by", ["secret", "n sideways", "n asc extra", ""])
def test_unknown_order_is_refused_with_the_choices(order_by: str) -> None:
    with pytest.raises(InvalidListParameter, match="n, name") as err:
        paginate(ITEMS, PageQuery(10, None, order_by or " "), KEYS, "n")
    assert err.value.field == "order_by"
