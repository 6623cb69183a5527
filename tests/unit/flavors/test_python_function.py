"""The python_function flavor: code referenced by import path, never pickled."""

from __future__ import annotations

import functools
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from slipway.artifacts import ArtifactStore
from slipway.core.errors import InvalidInput
from slipway.flavors import LoadOptions, PythonModel, load_model, save_model
from slipway.flavors.python_function import PythonFunctionFlavor
from tests.unit.flavors import sample_models


def test_a_class_is_saved_as_its_import_path_and_config(memory_store: ArtifactStore) -> None:
    model = sample_models.ThresholdModel(feature="x", threshold=0.5)
    saved = save_model(model, memory_store)
    metadata = saved.manifest.metadata["flavor_metadata"]
    assert metadata["entry_point"] == "tests.unit.flavors.sample_models:ThresholdModel"
    assert metadata["config"] == {"feature": "x", "threshold": 0.5}
    assert saved.manifest.entries == ()
    with load_model(memory_store, saved.manifest_digest) as loaded:
        assert isinstance(loaded.raw, sample_models.ThresholdModel)
        assert loaded.predict({"x": [0.1, 0.9]}).tolist() == [0, 1]


def test_a_function_is_saved_as_its_import_path(memory_store: ArtifactStore) -> None:
    saved = save_model(sample_models.row_sums, memory_store)
    metadata = saved.manifest.metadata["flavor_metadata"]
    assert metadata["entry_point"] == "tests.unit.flavors.sample_models:row_sums"
    with load_model(memory_store, saved.manifest_digest) as loaded:
        assert loaded.predict(np.ones((2, 3))).tolist() == [3.0, 3.0]


def _nested() -> Any:
    def predict(data: Any) -> Any:
        return data

    return predict


class _Outer:
    class Inner(PythonModel):
        def predict(self, data: Any) -> Any:
            return data


def _local_model() -> PythonModel:
    class Local(PythonModel):
        def predict(self, data: Any) -> Any:
            return data

    return Local()


def _from_main() -> Any:
    def predict(data: Any) -> Any:
        return data

    predict.__module__ = "__main__"
    predict.__qualname__ = "predict"
    return predict


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        (lambda data: data, "lambda"),
        (_nested(), "inside a function"),
        (_local_model(), "inside a function"),
        (_from_main(), "__main__"),
    ],
    ids=["lambda", "nested-function", "nested-class", "main"],
)
def test_code_that_cannot_be_imported_back_is_refused(
    model: object, problem: str, memory_store: ArtifactStore
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        save_model(model, memory_store)


def test_a_class_nested_in_a_class_imports_back(memory_store: ArtifactStore) -> None:
    saved = save_model(_Outer.Inner(), memory_store)
    with load_model(memory_store, saved.manifest_digest) as loaded:
        assert loaded.predict([1]) == [1]


def test_a_partial_is_not_a_model() -> None:
    with pytest.raises(InvalidInput, match=r"functools\.partial"):
        save_model(functools.partial(sample_models.row_sums), None)  # type: ignore[arg-type]


def test_config_must_be_json(memory_store: ArtifactStore) -> None:
    model = sample_models.ThresholdModel(feature="x", threshold=0.5)
    model.config["when"] = object()
    with pytest.raises(InvalidInput, match="not JSON-able"):
        save_model(model, memory_store)


def test_a_missing_artifact_is_refused(memory_store: ArtifactStore, tmp_path: Path) -> None:
    model = sample_models.ThresholdModel(feature="x", threshold=0.5)
    model.artifacts = {"weights.bin": str(tmp_path / "absent.bin")}
    with pytest.raises(InvalidInput, match="no such file"):
        save_model(model, memory_store)


def test_artifact_directories_are_copied(memory_store: ArtifactStore, tmp_path: Path) -> None:
    (tmp_path / "vocab").mkdir()
    (tmp_path / "vocab" / "words.txt").write_text("a\nb\n")
    model = sample_models.ThresholdModel(feature="x", threshold=0.5)
    model.artifacts = {"vocab": str(tmp_path / "vocab")}
    saved = save_model(model, memory_store)
    assert [e.path for e in saved.manifest.entries] == ["artifacts/vocab/words.txt"]
    with load_model(memory_store, saved.manifest_digest) as loaded:
        assert loaded.workdir is not None
        assert (loaded.workdir / "artifacts" / "vocab" / "words.txt").read_text() == "a\nb\n"


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ({"entry_point": "os:system", "kind": "function"}, "standard library"),
        ({"entry_point": "subprocess:getoutput", "kind": "function"}, "standard library"),
        ({"entry_point": "numpy:ndarray.__init__", "kind": "function"}, "does not name"),
        ({"entry_point": "numpy:linalg.norm", "kind": "function"}, "does not name"),
        ({"entry_point": "tests.unit.flavors.sample_models:np.load"}, "does not name"),
        ({"entry_point": "no_such_module_xyz:f", "kind": "function"}, "cannot import"),
        ({"entry_point": "tests.unit.flavors.sample_models", "kind": "function"}, "module:Qual"),
        (
            {"entry_point": "tests.unit.flavors.sample_models:double", "kind": "class"},
            "not a PythonModel",
        ),
        (
            {"entry_point": "tests.unit.flavors.sample_models:ThresholdModel", "kind": "function"},
            "not a function",
        ),
        ({"entry_point": "tests.unit.flavors.sample_models:double", "kind": "x"}, "unknown kind"),
        (
            {
                "entry_point": "tests.unit.flavors.sample_models:ThresholdModel",
                "kind": "class",
                "config": [1],
            },
            "config",
        ),
        ({"kind": "class"}, "entry_point"),
    ],
)
def test_stored_entry_points_are_held_to_the_rules(
    tmp_path: Path, metadata: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        PythonFunctionFlavor().load(tmp_path, metadata, LoadOptions())


def test_python_model_defaults() -> None:
    model = PythonModel(a=1)
    assert model.get_config() == {"a": 1}
    assert isinstance(model.artifacts, types.MappingProxyType)
    with pytest.raises(NotImplementedError):
        model.predict([1])
