"""The flavor contract suite: every flavor saves, loads, predicts and guards its input alike."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from slipway.artifacts import ArtifactStore
from slipway.core.errors import IntegrityError, InvalidInput, SignatureMismatch
from slipway.flavors import LoadedModel, Signature, load_model, save_model, to_onnx
from tests.unit.flavors import sample_models


@dataclass(frozen=True)
class FlavorCase:
    """One flavor under test: a model, an example, fresh data and the reference predictions."""

    flavor: str
    model: object
    example: Any
    data: Any
    expected: Callable[[Any], Any]
    save_kwargs: dict[str, Any] = field(default_factory=dict)
    load_kwargs: dict[str, Any] = field(default_factory=dict)


CASES = [
    "sklearn-skops",
    "sklearn-pickle",
    "onnx",
    "python_function-class",
    "python_function-function",
]


@pytest.fixture(params=CASES)
def case(
    request: pytest.FixtureRequest,
    cancer: tuple[pd.DataFrame, np.ndarray],
    gbc: GradientBoostingClassifier,
    tmp_path: Path,
) -> FlavorCase:
    X, _ = cancer
    frame, array = X.iloc[100:140], X.to_numpy()[100:140]
    if request.param == "sklearn-skops":
        return FlavorCase("sklearn", gbc, X.head(5), frame, gbc.predict)
    if request.param == "sklearn-pickle":
        return FlavorCase(
            "sklearn",
            gbc,
            X.head(5),
            frame,
            gbc.predict,
            save_kwargs={"serialization": "pickle"},
            load_kwargs={"allow_pickle": True},
        )
    if request.param == "onnx":

        def reference(data: Any) -> dict[str, Any]:
            rows = pd.DataFrame(data, columns=X.columns)
            return {"label": gbc.predict(rows), "probabilities": gbc.predict_proba(rows)}

        return FlavorCase("onnx", to_onnx(gbc, X.to_numpy()), X.to_numpy()[:5], array, reference)
    if request.param == "python_function-class":
        settings = tmp_path / "settings.json"
        settings.write_text(json.dumps({"scale": 2.0}))
        model = sample_models.ThresholdModel(feature="mean radius", threshold=30.0)
        model.artifacts = {"settings.json": str(settings)}
        return FlavorCase(
            "python_function",
            model,
            X.head(5),
            frame,
            lambda data: (data["mean radius"].to_numpy() * 2.0 > 30.0).astype(np.int64),
        )
    return FlavorCase(
        "python_function",
        sample_models.row_sums,
        X.to_numpy()[:5],
        array,
        lambda data: data.sum(axis=1),
    )


def assert_same(actual: Any, expected: Any) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict)
        assert set(actual) == set(expected)
        for name, value in expected.items():
            np.testing.assert_allclose(actual[name], value, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def save_and_load(case: FlavorCase, store: ArtifactStore) -> tuple[Any, LoadedModel]:
    saved = save_model(case.model, store, input_example=case.example, **case.save_kwargs)
    return saved, load_model(store, saved.manifest_digest, **case.load_kwargs)


def test_round_trip_predicts_like_the_original(
    case: FlavorCase, memory_store: ArtifactStore
) -> None:
    saved, loaded = save_and_load(case, memory_store)
    with loaded:
        assert saved.flavor == loaded.flavor == case.flavor
        assert_same(loaded.predict(case.data), case.expected(case.data))


def test_signature_is_stored_and_round_trips(case: FlavorCase, memory_store: ArtifactStore) -> None:
    saved, loaded = save_and_load(case, memory_store)
    with loaded:
        assert saved.signature is not None
        assert loaded.signature == saved.signature
        assert Signature.from_dict(json.loads(json.dumps(saved.signature.to_dict()))) == (
            saved.signature
        )
        assert saved.signature.outputs is not None
        if isinstance(case.example, pd.DataFrame):
            assert saved.signature.inputs.kind == "columns"
            assert saved.signature.inputs.names == tuple(case.example.columns)
        else:
            assert saved.signature.inputs.kind == "tensors"
            assert saved.signature.inputs.fields[0].shape == (-1, 30)


def bad_input(kind: str, data: Any) -> tuple[Any, str, str]:
    """Input that breaks the signature in one way; the field and problem it must report."""
    if isinstance(data, pd.DataFrame):
        first = str(data.columns[0])
        if kind == "missing":
            return data.drop(columns=[first]), first, "missing required field"
        if kind == "dtype":
            return data.assign(**{first: "x"}), first, "expected float64, got string"
        return data.to_numpy()[:, :29], "input", "expected shape [-1, 30]"
    if kind == "missing":
        return {"other": data}, "input", "missing required field"
    if kind == "dtype":
        return data.astype(str), "input", "expected float64, got string"
    return data[:, :29], "input", f"expected shape [-1, 30], got [{len(data)}, 29]"


@pytest.mark.parametrize("kind", ["missing", "dtype", "shape"])
def test_input_that_breaks_the_signature_names_the_field(
    case: FlavorCase, memory_store: ArtifactStore, kind: str
) -> None:
    data, field_name, problem = bad_input(kind, case.data)
    _, loaded = save_and_load(case, memory_store)
    with loaded, pytest.raises(SignatureMismatch) as caught:
        loaded.predict(data)
    assert caught.value.field == field_name
    assert problem in str(caught.value)


def test_a_tampered_blob_raises_integrity_error(
    case: FlavorCase, file_store: ArtifactStore
) -> None:
    saved = save_model(case.model, file_store, input_example=case.example, **case.save_kwargs)
    root = Path(urlparse(file_store.url).path)
    digests = [e.digest for e in saved.manifest.entries] + [saved.manifest_digest]
    for digest in digests:
        blob = root / "sha256" / digest[:2] / digest
        original = blob.read_bytes()
        blob.write_bytes(bytes([original[0] ^ 0xFF]) + original[1:])
        with pytest.raises(IntegrityError):
            load_model(file_store, saved.manifest_digest, **case.load_kwargs)
        blob.write_bytes(original)
    load_model(file_store, saved.manifest_digest, **case.load_kwargs).close()


def test_no_temporary_files_outlive_the_model(
    case: FlavorCase, memory_store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    _, loaded = save_and_load(case, memory_store)
    loaded.predict(case.data)
    loaded.close()
    assert list(scratch.iterdir()) == []


def test_descriptor_records_versions_example_and_metadata(
    case: FlavorCase, memory_store: ArtifactStore
) -> None:
    saved = save_model(
        case.model,
        memory_store,
        input_example=case.example,
        metadata={"team": "risk"},
        **case.save_kwargs,
    )
    descriptor = saved.manifest.metadata
    assert descriptor["flavor"] == case.flavor
    assert descriptor["slipway_version"]
    assert descriptor["python_version"].count(".") == 2
    assert len(descriptor["input_example"]) == 5
    with load_model(memory_store, saved.manifest_digest, **case.load_kwargs) as loaded:
        assert loaded.metadata == {"team": "risk"}
        # The stored example is valid input for the model it describes.
        loaded.predict(descriptor["input_example"])


def test_without_an_example_there_is_no_signature(
    case: FlavorCase, memory_store: ArtifactStore
) -> None:
    saved = save_model(case.model, memory_store, **case.save_kwargs)
    assert saved.signature is None
    with load_model(memory_store, saved.manifest_digest, **case.load_kwargs) as loaded:
        assert loaded.signature is None
        assert_same(loaded.predict(case.data), case.expected(case.data))


def test_files_a_model_needs_live_until_close(
    cancer: tuple[pd.DataFrame, np.ndarray], memory_store: ArtifactStore, tmp_path: Path
) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"scale": 1.0}))
    model = sample_models.ThresholdModel(feature="mean radius", threshold=15.0)
    model.artifacts = {"settings.json": str(settings)}
    saved = save_model(model, memory_store)
    loaded = load_model(memory_store, saved.manifest_digest)
    assert loaded.workdir is not None
    assert (loaded.workdir / "artifacts" / "settings.json").is_file()
    loaded.close()
    assert not loaded.workdir.exists()


def test_metadata_must_be_json(
    gbc: GradientBoostingClassifier, memory_store: ArtifactStore
) -> None:
    with pytest.raises(InvalidInput, match="JSON"):
        save_model(gbc, memory_store, metadata={"when": object()})


def test_a_flavor_must_accept_the_model(
    gbc: GradientBoostingClassifier, memory_store: ArtifactStore
) -> None:
    with pytest.raises(InvalidInput, match="onnx"):
        save_model(gbc, memory_store, flavor="onnx")


def test_a_manifest_that_is_not_a_model_is_refused(memory_store: ArtifactStore) -> None:
    from slipway.artifacts.manifest import Manifest

    digest = memory_store.put_bytes(Manifest((), {"format": "something else"}).to_bytes()).digest
    with pytest.raises(InvalidInput, match="not a Slipway model"):
        load_model(memory_store, digest)
