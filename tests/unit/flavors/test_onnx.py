"""The ONNX flavor: conversion from scikit-learn, feeding inputs by name, lazy imports."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from slipway.artifacts import ArtifactStore
from slipway.core.errors import InvalidInput, SignatureMismatch
from slipway.flavors import LoadOptions, load_model, save_model, to_onnx
from slipway.flavors.onnx import OnnxFlavor
from tests.unit.flavors import sample_models

Data = tuple[pd.DataFrame, np.ndarray]


def test_a_classifier_converts_to_plain_arrays(cancer: Data, gbc: BaseEstimator) -> None:
    X, _ = cancer
    model = to_onnx(gbc, X)
    assert [o.name for o in model.graph.output] == ["label", "probabilities"]
    assert [i.name for i in model.graph.input] == ["X"]


def test_a_single_output_comes_back_as_an_array(cancer: Data, memory_store: ArtifactStore) -> None:
    X, y = cancer
    regressor = LinearRegression().fit(X, y)
    saved = save_model(to_onnx(regressor, X), memory_store, input_example=X.head(3))
    assert saved.signature is not None
    assert saved.signature.inputs.kind == "columns"
    with load_model(memory_store, saved.manifest_digest) as loaded:
        out = loaded.predict(X.head(8))
        assert isinstance(out, np.ndarray)
        np.testing.assert_allclose(out.ravel(), regressor.predict(X.head(8)), rtol=1e-4, atol=1e-4)


def test_text_columns_become_one_input_each(memory_store: ArtifactStore) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "c": ["x", "y", "x", "z"]})
    encoder = ColumnTransformer(
        [("num", StandardScaler(), ["a"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["c"])]
    )
    pipeline = Pipeline([("pre", encoder), ("clf", LogisticRegression())])
    pipeline.fit(frame, [0, 1, 0, 1])
    model = to_onnx(pipeline, frame)
    assert [i.name for i in model.graph.input] == ["a", "c"]
    saved = save_model(model, memory_store, input_example=frame)
    with load_model(memory_store, saved.manifest_digest) as loaded:
        out = loaded.predict(frame.to_dict(orient="records"))
        assert out["label"].tolist() == pipeline.predict(frame).tolist()
        with pytest.raises(SignatureMismatch, match="expected float64, got string"):
            loaded.predict({"a": ["one"], "c": ["x"]})


def test_the_predictor_checks_input_names_without_a_signature(
    cancer: Data, gbc: BaseEstimator, memory_store: ArtifactStore
) -> None:
    X, _ = cancer
    saved = save_model(to_onnx(gbc, X), memory_store)
    with load_model(memory_store, saved.manifest_digest) as loaded:
        assert loaded.predict({"X": X.to_numpy()[:2]})["label"].shape == (2,)
        with pytest.raises(SignatureMismatch, match="missing model input"):
            loaded.predict({"Y": X.to_numpy()[:2]})
        with pytest.raises(SignatureMismatch, match="cannot convert"):
            loaded.predict(np.full((1, 30), "x"))


def test_an_invalid_model_is_refused_on_save(gbc: BaseEstimator, tmp_path: Path) -> None:
    model = to_onnx(gbc, np.zeros((1, 30)))
    model.graph.node[0].op_type = "NoSuchOperator"
    with pytest.raises(InvalidInput, match="invalid ONNX model"):
        OnnxFlavor().save(model, tmp_path, input_example=None)


def test_numeric_columns_picked_by_name_become_one_input_each(
    memory_store: ArtifactStore,
) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [4.0, 1.0, 2.0, 3.0]})
    scale = ColumnTransformer([("a", StandardScaler(), ["a"]), ("b", StandardScaler(), ["b"])])
    pipeline = Pipeline([("pre", scale), ("clf", LogisticRegression())]).fit(frame, [0, 1, 0, 1])
    model = to_onnx(pipeline, frame)
    assert [i.name for i in model.graph.input] == ["a", "b"]
    saved = save_model(model, memory_store, input_example=frame)
    with load_model(memory_store, saved.manifest_digest) as loaded:
        np.testing.assert_allclose(
            loaded.predict(frame)["probabilities"], pipeline.predict_proba(frame), rtol=1e-5
        )


def test_a_corrupt_file_is_refused_on_load(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"garbage")
    with pytest.raises(InvalidInput, match="onnxruntime cannot load"):
        OnnxFlavor().load(tmp_path, {"file": "model.onnx"}, LoadOptions())


def test_only_onnx_serialization_exists(gbc: BaseEstimator, memory_store: ArtifactStore) -> None:
    with pytest.raises(InvalidInput, match="supported: onnx"):
        save_model(to_onnx(gbc, np.zeros((1, 30))), memory_store, serialization="pickle")


def test_a_missing_runtime_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(InvalidInput, match=r"pip install 'slipway\[onnx\]'"):
        OnnxFlavor().load(tmp_path, {"file": "model.onnx"}, LoadOptions())


def test_an_unconvertible_model_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="converts scikit-learn estimators"):
        to_onnx(object(), np.zeros((1, 3)))
    unsupported = sample_models.MeanClassifier().fit(np.zeros((2, 3)), [0, 1])
    with pytest.raises(InvalidInput, match="skl2onnx cannot convert MeanClassifier"):
        to_onnx(unsupported, np.zeros((1, 3)))


def test_input_onnxruntime_rejects_is_invalid_input(
    gbc: BaseEstimator, memory_store: ArtifactStore
) -> None:
    saved = save_model(to_onnx(gbc, np.zeros((1, 30))), memory_store)
    with (
        load_model(memory_store, saved.manifest_digest) as loaded,
        pytest.raises(InvalidInput, match="onnxruntime rejected"),
    ):
        loaded.predict(np.zeros((2, 29)))
