"""OIP v2 and plain JSON parsing: every malformed request names its problem."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from slipway.core.errors import InvalidInput
from slipway.flavors import infer_signature
from slipway.serving.protocol import (
    encode_infer_response,
    encode_json_predictions,
    model_metadata,
    model_outputs,
    parse_infer_request,
    parse_json_records,
    to_model_input,
)

COLUMNS = infer_signature(pd.DataFrame({"a": [1.0], "b": [2.0]}), np.array([0]))
TENSOR = infer_signature(np.zeros((1, 2, 2), dtype=np.float32))


def body(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return orjson.dumps({"inputs": list(inputs), **extra})


def tensor(name: str = "a", shape: Any = (2,), datatype: str = "FP64", data: Any = None) -> Any:
    return {
        "name": name,
        "shape": list(shape),
        "datatype": datatype,
        "data": [1.0, 2.0] if data is None else data,
    }


def test_flat_and_nested_data_give_the_same_tensor() -> None:
    flat = parse_infer_request(body(tensor(shape=(2, 2), data=[1, 2, 3, 4])))
    nested = parse_infer_request(body(tensor(shape=(2, 2), data=[[1, 2], [3, 4]])))
    np.testing.assert_array_equal(flat.inputs["a"], nested.inputs["a"])
    assert flat.inputs["a"].dtype == np.float64
    assert flat.inputs["a"].shape == (2, 2)


def test_id_outputs_and_parameters_are_kept() -> None:
    parsed = parse_infer_request(
        body(tensor(), id="r1", outputs=[{"name": "label"}], parameters={"threshold": 0.3})
    )
    assert parsed.id == "r1"
    assert parsed.outputs == ("label",)
    assert parsed.parameters == {"threshold": 0.3}


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"", "empty"),
        (b"{nope", "JSON"),
        (b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [NaN]}]}', "JSON"),
        (b"[]", "object"),
        (body(tensor(), idd="x"), "'idd'"),
        (orjson.dumps({"inputs": []}), "inputs"),
        (body(tensor(), id=7), "'id'"),
        (body(tensor(data=["x", "y"])), "'a': datatype FP64 needs numbers, got strings"),
        (body(tensor(data=[1.0, None])), "null"),
        (body(tensor(data=[True, False])), "got booleans"),
        (body(tensor(shape=(3,))), "shape [3] needs 3 values"),
        (body(tensor(shape=(-1,))), "non-negative"),
        (body(tensor(datatype="FP65")), "unknown datatype 'FP65'"),
        (body(tensor(datatype="INT32", data=[1.5, 2.0])), "integers"),
        (body(tensor(datatype="INT8", data=[1, 300])), "range of INT8"),
        (body(tensor(datatype="BOOL", data=[1, 0])), "true/false"),
        (body(tensor(datatype="BYTES", data=[1, 0])), "strings"),
        (body(tensor(shape=(2, 2), data=[[1, 2], [3]])), "ragged"),
        (body(tensor(), tensor()), "twice"),
        (body({"name": "a", "shape": [1], "datatype": "FP64"}), "'data'"),
        (body(tensor() | {"extra": 1}), "'extra'"),
        (body(tensor() | {"parameters": {"binary_data_size": 8}}), "binary"),
        (body(tensor(), outputs=[{"name": "o", "parameters": {"binary_data": True}}]), "binary"),
        (body(tensor(), outputs=["label"]), "output"),
    ],
)
def test_malformed_requests_name_the_problem(raw: bytes, needle: str) -> None:
    with pytest.raises(InvalidInput, match=None) as caught:
        parse_infer_request(raw)
    assert needle.lower() in str(caught.value).lower()


def test_columns_signature_takes_one_tensor_per_column_or_one_matrix() -> None:
    per_column = parse_infer_request(body(tensor("a"), tensor("b", shape=(2, 1))))
    columns = to_model_input(per_column, COLUMNS)
    assert set(columns) == {"a", "b"}
    assert columns["b"].shape == (2,)
    matrix = parse_infer_request(body(tensor("x", shape=(1, 2), data=[1.0, 2.0])))
    assert to_model_input(matrix, COLUMNS).shape == (1, 2)
    cube = parse_infer_request(body(tensor("a", shape=(1, 1, 2)), tensor("b", shape=(1, 1, 2))))
    with pytest.raises(InvalidInput, match="'a': a column must have shape"):
        to_model_input(cube, COLUMNS)


def test_tensor_signature_and_no_signature() -> None:
    parsed = parse_infer_request(body(tensor("input", shape=(1, 2, 2), data=[1, 2, 3, 4])))
    assert to_model_input(parsed, TENSOR).shape == (1, 2, 2)
    two = parse_infer_request(body(tensor("a"), tensor("b")))
    assert set(to_model_input(two, TENSOR)) == {"a", "b"}  # the check then names the mismatch
    assert to_model_input(parsed, None).shape == (1, 2, 2)


def test_response_encodes_row_major_with_oip_datatypes() -> None:
    outputs = model_outputs(
        {"label": np.array([1, 0]), "proba": np.array([[0.1, 0.9], [0.8, 0.2]])}, None
    )
    doc = orjson.loads(
        encode_infer_response(
            model_name="m", model_version="3", request_id="r", outputs=outputs, requested=None
        )
    )
    assert doc["id"] == "r"
    assert doc["model_version"] == "3"
    label, proba = doc["outputs"]
    assert (label["datatype"], label["shape"], label["data"]) == ("INT64", [2], [1, 0])
    assert (proba["datatype"], proba["shape"], proba["data"]) == (
        "FP64",
        [2, 2],
        [0.1, 0.9, 0.8, 0.2],
    )
    only = orjson.loads(
        encode_infer_response(
            model_name="m", model_version="3", request_id=None, outputs=outputs, requested=["proba"]
        )
    )
    assert [o["name"] for o in only["outputs"]] == ["proba"]
    assert "id" not in only
    with pytest.raises(InvalidInput, match="'nope' does not exist"):
        encode_infer_response(
            model_name="m", model_version="3", request_id=None, outputs=outputs, requested=["nope"]
        )


def test_outputs_of_every_shape_get_names_and_text_survives() -> None:
    assert set(model_outputs(np.array([1]), COLUMNS)) == {"output"}
    assert set(model_outputs(pd.DataFrame({"x": [1], "y": [2]}), None)) == {"x", "y"}
    assert set(model_outputs(pd.Series([1], name="score"), None)) == {"score"}
    text = model_outputs(np.array(["cat", "dog"], dtype=object), None)
    doc = orjson.loads(
        encode_infer_response(
            model_name="m", model_version="1", request_id=None, outputs=text, requested=None
        )
    )
    assert doc["outputs"][0]["datatype"] == "BYTES"
    assert doc["outputs"][0]["data"] == ["cat", "dog"]
    assert orjson.loads(encode_json_predictions(text)) == {"predictions": ["cat", "dog"]}


def test_metadata_follows_the_signature() -> None:
    doc = model_metadata("m", ["1", "2"], COLUMNS, "sklearn")
    assert doc["inputs"] == [
        {"name": "a", "datatype": "FP64", "shape": [-1]},
        {"name": "b", "datatype": "FP64", "shape": [-1]},
    ]
    assert doc["outputs"][0]["datatype"] == "INT64"
    assert model_metadata("m", ["1"], None, "onnx")["inputs"] == []


def test_plain_json_records_columns_and_mlflow_envelopes() -> None:
    records = [{"a": 1.0, "b": 2.0}]
    assert parse_json_records(orjson.dumps(records)) == records
    assert parse_json_records(orjson.dumps({"a": [1.0]})) == {"a": [1.0]}
    assert parse_json_records(orjson.dumps({"dataframe_records": records})) == records
    split = {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0], [3.0, 4.0]]}}
    assert parse_json_records(orjson.dumps(split)) == {"a": [1.0, 3.0], "b": [2.0, 4.0]}
    for raw, needle in [
        (b"[]", "empty"),
        (b"{}", "empty"),
        (b"3", "list of records"),
        (b'[{"a": 1}, 2]', "record 1"),
        (orjson.dumps({"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}), "rows of 1"),
        (b"", "JSON"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            parse_json_records(raw)
        assert needle in str(caught.value), raw
    assert orjson.loads(encode_json_predictions({"a": np.array([1]), "b": np.array([0.5])})) == {
        "predictions": {"a": [1], "b": [0.5]}
    }
