"""Signatures: inference from examples, the stored JSON form, and checking input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from slipway.core.errors import InvalidInput, SignatureMismatch
from slipway.flavors import Signature, check_input, infer_signature
from slipway.flavors.signature import FieldSpec, Schema

FRAME = pd.DataFrame(
    {
        "mean radius": [14.1, 20.5, 9.0],
        "count": np.array([1, 2, 3], dtype=np.int64),
        "city": ["Oslo", "Lima", "Pune"],
        "flag": [True, False, True],
    }
)
COLUMNS = infer_signature(FRAME)
TENSOR = infer_signature(np.zeros((4, 30)))


def test_columns_are_inferred_from_a_dataframe() -> None:
    assert COLUMNS.inputs == Schema(
        "columns",
        (
            FieldSpec("mean radius", "float64", (-1,)),
            FieldSpec("count", "int64", (-1,)),
            FieldSpec("city", "string", (-1,)),
            FieldSpec("flag", "bool", (-1,)),
        ),
    )
    assert COLUMNS.outputs is None


@pytest.mark.parametrize(
    "example",
    [
        FRAME.to_dict(orient="list"),
        {k: FRAME[k].to_numpy() for k in FRAME.columns},
        FRAME.to_dict(orient="records"),
        FRAME.astype({"city": object}),
    ],
    ids=["dict-of-lists", "dict-of-arrays", "records", "object-strings"],
)
def test_every_tabular_form_gives_the_same_columns(example: Any) -> None:
    assert infer_signature(example).inputs == COLUMNS.inputs


def test_a_tensor_has_a_variable_first_dimension() -> None:
    signature = infer_signature(np.zeros((4, 3, 2), dtype=np.float32), np.zeros(4))
    assert signature.inputs == Schema("tensors", (FieldSpec("input", "float32", (-1, 3, 2)),))
    assert signature.outputs == Schema("tensors", (FieldSpec("output", "float64", (-1,)),))


def test_several_outputs_become_named_tensors() -> None:
    outputs = {"label": np.zeros(3, dtype=np.int64), "probabilities": np.zeros((3, 2))}
    signature = infer_signature(np.zeros((3, 2)), outputs)
    assert signature.outputs is not None
    assert signature.outputs.names == ("label", "probabilities")
    assert signature.outputs.kind == "tensors"


@pytest.mark.parametrize(
    "example",
    [{"a": [None, None]}, {"a": [1, "x"]}, np.float64(1.0), {1: [1.0]}],
    ids=["all-missing", "mixed", "scalar", "non-string-name"],
)
def test_examples_that_describe_no_type_are_refused(example: Any) -> None:
    with pytest.raises(InvalidInput):
        infer_signature(example)


def test_a_signature_round_trips_through_its_dict() -> None:
    signature = infer_signature(FRAME, np.zeros(3))
    assert Signature.from_dict(signature.to_dict()) == signature


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        {"inputs": None},
        {"inputs": {"kind": "columns", "fields": []}, "outputs": None},
        {"inputs": {"kind": "table", "fields": [{}]}, "outputs": None},
        {"inputs": {"kind": "columns", "fields": [{"name": "a"}]}, "outputs": None},
        {
            "inputs": {"kind": "columns", "fields": [{"name": "a", "dtype": "f8", "shape": [-1]}]},
            "outputs": None,
        },
        {
            "inputs": {"kind": "columns", "fields": [{"name": "", "dtype": "bool", "shape": [-1]}]},
            "outputs": None,
        },
        {
            "inputs": {"kind": "columns", "fields": [{"name": "a", "dtype": "bool", "shape": [3]}]},
            "outputs": None,
        },
        {
            "inputs": {"kind": "tensors", "fields": [{"name": "a", "dtype": "bool", "shape": "x"}]},
            "outputs": None,
        },
        {
            "inputs": {
                "kind": "tensors",
                "fields": [{"name": "a", "dtype": "bool", "shape": [-1, 2.5]}],
            },
            "outputs": None,
        },
        {
            "inputs": {
                "kind": "columns",
                "fields": [
                    {"name": "a", "dtype": "bool", "shape": [-1]},
                    {"name": "a", "dtype": "bool", "shape": [-1]},
                ],
            },
            "outputs": None,
        },
        {"inputs": {"kind": "tensors", "fields": [{}]}, "outputs": None, "extra": 1},
    ],
)
def test_a_malformed_signature_is_invalid_input(doc: Any) -> None:
    with pytest.raises(InvalidInput, match="malformed signature"):
        Signature.from_dict(doc)


@pytest.mark.parametrize(
    "data",
    [
        FRAME,
        FRAME[["flag", "city", "count", "mean radius"]],
        FRAME.to_dict(orient="list"),
        FRAME.to_dict(orient="records"),
    ],
    ids=["frame", "reordered", "dict", "records"],
)
def test_column_input_comes_back_as_a_frame_in_signature_order(data: Any) -> None:
    checked = check_input(COLUMNS, data)
    assert isinstance(checked, pd.DataFrame)
    assert list(checked.columns) == ["mean radius", "count", "city", "flag"]
    assert checked["count"].dtype == np.int64
    assert checked["mean radius"].tolist() == [14.1, 20.5, 9.0]


def test_one_record_as_a_dict_of_values_is_one_row() -> None:
    checked = check_input(COLUMNS, {"mean radius": 1.0, "count": 2, "city": "Oslo", "flag": True})
    assert len(checked) == 1


def test_safe_casts_are_applied() -> None:
    data = FRAME.copy()
    data["mean radius"] = [14, 20, 9]
    data["count"] = [1.0, 2.0, 3.0]
    checked = check_input(COLUMNS, data)
    assert checked["mean radius"].dtype == np.float64
    assert checked["count"].tolist() == [1, 2, 3]
    assert checked["count"].dtype == np.int64
    float32 = infer_signature(np.zeros((2, 3), dtype=np.float32))
    assert check_input(float32, np.ones((2, 3))).dtype == np.float32
    assert check_input(TENSOR, np.ones((2, 30), dtype=np.float32)).dtype == np.float64


def test_missing_floats_pass_as_nan() -> None:
    data = FRAME.copy()
    data["mean radius"] = [None, 1.0, 2.0]
    checked = check_input(COLUMNS, data)
    assert np.isnan(checked["mean radius"][0])


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"mean radius": ["a", "b", "c"]}, "mean radius", "expected float64, got string"),
        ({"count": [1.5, 2.0, 3.0]}, "count", "expected int64, got float64 with non-integral"),
        ({"count": [1.0, None, 3.0]}, "count", "expected int64, got float64 with missing"),
        ({"city": [1, 2, 3]}, "city", "expected string, got int64"),
        ({"flag": [1, 0, 1]}, "flag", "expected bool, got int64"),
        ({"mean radius": [True, False, True]}, "mean radius", "expected float64, got bool"),
    ],
)
def test_unsafe_casts_name_the_field(change: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(SignatureMismatch) as caught:
        check_input(COLUMNS, FRAME.assign(**change))
    assert caught.value.field == field
    assert problem in str(caught.value)


def test_the_message_names_field_expected_and_given() -> None:
    with pytest.raises(SignatureMismatch) as caught:
        check_input(COLUMNS, FRAME.assign(**{"mean radius": "x"}))
    assert str(caught.value) == "input field 'mean radius': expected float64, got string"


def test_names_are_checked_per_record() -> None:
    records = FRAME.to_dict(orient="records")
    del records[1]["city"]
    with pytest.raises(SignatureMismatch, match="missing required field in record 1") as caught:
        check_input(COLUMNS, records)
    assert caught.value.field == "city"


def test_an_unexpected_field_is_named() -> None:
    with pytest.raises(SignatureMismatch, match="unexpected field") as caught:
        check_input(COLUMNS, FRAME.assign(extra=1))
    assert caught.value.field == "extra"


def test_a_2d_array_fills_columns_in_order() -> None:
    numeric = infer_signature(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    checked = check_input(numeric, np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert checked["b"].tolist() == [2.0, 4.0]
    with pytest.raises(SignatureMismatch, match=r"expected shape \[-1, 2\]"):
        check_input(numeric, np.zeros((2, 3)))


def test_tensor_shape_is_checked() -> None:
    with pytest.raises(SignatureMismatch) as caught:
        check_input(TENSOR, np.zeros((2, 29)))
    assert str(caught.value) == "input field 'input': expected shape [-1, 30], got [2, 29]"
    with pytest.raises(SignatureMismatch, match="expected shape"):
        check_input(TENSOR, np.zeros(30))


def test_tensors_accept_nested_lists_and_named_dicts() -> None:
    assert check_input(TENSOR, [[0.0] * 30]).shape == (1, 30)
    assert check_input(TENSOR, {"input": np.zeros((1, 30))}).shape == (1, 30)
    two = infer_signature({"a": np.zeros((2, 3)), "b": np.zeros((2, 1), dtype=np.int64)})
    checked = check_input(two, {"a": np.ones((1, 3)), "b": [[4]]})
    assert set(checked) == {"a", "b"}
    with pytest.raises(SignatureMismatch) as caught:
        check_input(two, np.ones((1, 3)))
    assert caught.value.field == "input"


def test_mismatched_column_lengths_are_refused() -> None:
    with pytest.raises(SignatureMismatch, match="expected 3 values, got 2"):
        check_input(COLUMNS, {**FRAME.to_dict(orient="list"), "flag": [True, False]})


def test_datetimes_accept_iso_strings() -> None:
    stamps = pd.DataFrame({"at": pd.to_datetime(["2024-01-01", "2024-02-01"])})
    signature = infer_signature(stamps)
    assert signature.inputs.fields[0].dtype == "datetime64"
    checked = check_input(signature, {"at": ["2024-03-01T10:00:00", "2024-03-02"]})
    assert checked["at"].dt.month.tolist() == [3, 3]
    with pytest.raises(SignatureMismatch, match="ISO 8601"):
        check_input(signature, {"at": ["yesterday"]})


def test_an_empty_batch_takes_the_signature_types() -> None:
    checked = check_input(COLUMNS, {name: [] for name in COLUMNS.inputs.names})
    assert len(checked) == 0
    assert checked["count"].dtype == np.int64
    assert check_input(TENSOR, np.zeros((0, 30), dtype=object)).dtype == np.float64
