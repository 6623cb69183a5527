"""The fast tabular path agrees with the full signature check, and steps aside when unsure."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from slipway.flavors import infer_signature
from slipway.flavors.signature import check_input
from slipway.serving.pool import MatrixPlan

SIGNATURE = infer_signature(pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]}))


def plan() -> MatrixPlan:
    found = MatrixPlan.for_signature(SIGNATURE)
    assert found is not None
    return found


@pytest.mark.parametrize(
    "data",
    [
        [{"a": 1.0, "b": 2, "c": 3.5}],
        [{"c": 3.0, "a": 1.0, "b": 2.0}, {"a": -1, "b": 0, "c": 1e300}],
        {"a": [1.0, 2.0], "b": [3, 4], "c": [5.0, 6.0]},
    ],
)
def test_fast_path_equals_the_full_check(data: Any) -> None:
    fast = plan().fast(data)
    assert fast is not None
    full = check_input(SIGNATURE, data)
    np.testing.assert_array_equal(fast, full.to_numpy())
    pd.testing.assert_frame_equal(plan().frame(fast), full)


@pytest.mark.parametrize(
    "data",
    [
        [{"a": 1.0, "b": None, "c": 3.0}],  # missing value: the model decides, via the full path
        [{"a": True, "b": 2.0, "c": 3.0}],  # a boolean is not a number here
        [{"a": "1.0", "b": 2.0, "c": 3.0}],  # nor is a string
        [{"a": 1.0, "b": 2.0}],  # missing field
        [{"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}],  # extra field
        [{"a": 1.0, "b": 2.0, "c": 3.0}, 7],  # not a record
        {"a": 1.0, "b": 2.0, "c": 3.0},  # one row as single values
        {"a": [1.0], "b": [2.0, 3.0], "c": [3.0]},  # ragged columns
        [{"a": [1.0], "b": 2.0, "c": 3.0}],  # nested value
        [],
        np.ones((1, 3)),
    ],
)
def test_fast_path_steps_aside_when_unsure(data: Any) -> None:
    assert plan().fast(data) is None


def test_only_all_float_column_signatures_get_a_plan() -> None:
    assert MatrixPlan.for_signature(None) is None
    assert MatrixPlan.for_signature(infer_signature(pd.DataFrame({"a": [1], "b": [2]}))) is None
    assert MatrixPlan.for_signature(infer_signature(pd.DataFrame({"a": [1.0], "s": ["x"]}))) is None
    assert MatrixPlan.for_signature(infer_signature(np.zeros((1, 3)))) is None
