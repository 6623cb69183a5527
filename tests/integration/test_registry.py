"""Registry SDK end to end: log, register, alias, load by URI, lineage, tampering."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import slipway
from slipway.artifacts.manifest import fetch_manifest
from slipway.core.entities import ModelVersion
from slipway.core.errors import IntegrityError, InvalidInput, NotFound, SignatureMismatch
from slipway.workspace import Workspace
from tests.integration.remote.server import blobs_behind


@pytest.fixture
def workspace(contract_workspace: Workspace) -> Workspace:
    return contract_workspace


@pytest.fixture
def iris() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return x, y


def _train_and_register(x: np.ndarray, y: np.ndarray, name: str = "iris") -> ModelVersion:
    with slipway.start_run() as run:
        slipway.log_input(x, name="iris-train")
        model = LogisticRegression(max_iter=300).fit(x, y)
        slipway.log_metric("acc", float(model.score(x, y)))
        logged = slipway.log_model(model, "model", input_example=x[:3])
    assert logged.model_uri == f"runs:/{run.info.run_id}/model"
    return slipway.register_model(logged.model_uri, name)


def test_register_alias_and_load(fluent_workspace: Workspace, iris: tuple) -> None:  # type: ignore[type-arg]
    x, y = iris
    v1 = _train_and_register(x, y)
    v2 = _train_and_register(x, y)
    assert (v1.version, v2.version) == (1, 2)
    slipway.set_alias("iris", "champion", v1.version)
    slipway.set_alias("iris", "champion", v2.version)
    champion = slipway.load_model("models:/iris@champion")
    np.testing.assert_array_equal(champion.predict(x[:10]), champion.predict(x[:10]))
    assert champion.predict(x[:10]).shape == (10,)
    for uri in ("models:/iris/1", "models:/iris/latest", v1.source):
        assert slipway.load_model(uri).predict(x[:2]).shape == (2,)
    history = slipway.get_alias_history("iris", "champion")
    assert [(h.from_version, h.to_version) for h in history] == [(None, 1), (1, 2)]
    assert slipway.get_model_version_by_alias("iris", "champion").version == 2


def test_signature_is_stored_and_enforced(fluent_workspace: Workspace, iris: tuple) -> None:  # type: ignore[type-arg]
    x, y = iris
    mv = _train_and_register(x, y)
    assert mv.signature is not None
    model = slipway.load_model("models:/iris/1")
    with pytest.raises(SignatureMismatch, match="input"):
        model.predict(x[:, :3])


def test_lineage(fluent_workspace: Workspace, iris: tuple) -> None:  # type: ignore[type-arg]
    x, y = iris
    v1 = _train_and_register(x, y)
    slipway.set_alias("iris", "champion", v1.version)
    # A retraining run that starts from the champion: the new version's parent is version 1.
    with slipway.start_run() as run:
        slipway.load_model("models:/iris@champion")
        slipway.log_input(x, name="iris-train")
        model = LogisticRegression(max_iter=300).fit(x, y)
        logged = slipway.log_model(model, input_example=x[:3])
    v2 = slipway.register_model(logged.model_uri, "iris")
    assert v2.parent_version == 1
    lineage = slipway.get_lineage("iris", 2)
    assert lineage.run is not None
    assert lineage.run.info.run_id == run.info.run_id
    assert lineage.parent is not None
    assert lineage.parent.version == 1
    assert [d.name for d in lineage.datasets] == ["iris-train"]
    assert v2.dataset_digests == (lineage.datasets[0].digest,)
    assert [e.action for e in lineage.history] == ["model_version.create"]


def test_tampered_model_blob_is_never_loaded(fluent_workspace: Workspace, iris: tuple) -> None:  # type: ignore[type-arg]
    x, y = iris
    mv = _train_and_register(x, y)
    store = blobs_behind(fluent_workspace)
    manifest = fetch_manifest(store, mv.manifest_digest)
    biggest = max(manifest.entries, key=lambda e: e.size)
    path = store._blob_path(biggest.digest)
    data = bytearray(store.fs.cat_file(path))
    data[len(data) // 2] ^= 0xFF
    store.fs.pipe_file(path, bytes(data))
    with pytest.raises(IntegrityError):
        slipway.load_model("models:/iris/1")


def test_bad_registry_requests(fluent_workspace: Workspace, iris: tuple) -> None:  # type: ignore[type-arg]
    x, y = iris
    _train_and_register(x, y)
    with pytest.raises(NotFound, match="no alias 'champion'"):
        slipway.load_model("models:/iris@champion")
    with pytest.raises(NotFound, match="no version 5"):
        slipway.load_model("models:/iris/5")
    with pytest.raises(NotFound, match="'nope' not found"):
        slipway.load_model("models:/nope@champion")
    with pytest.raises(InvalidInput, match="invalid model URI"):
        slipway.load_model("http://elsewhere/model")
    with pytest.raises(InvalidInput, match="runs:/"):
        slipway.register_model("models:/iris/1", "copy")
    with pytest.raises(NotFound):
        slipway.register_model(f"runs:/{'0' * 32}/model", "iris")
    with slipway.start_run() as run:
        slipway.log_text("hello", "notes.txt")
    with pytest.raises(InvalidInput, match="not a logged model"):
        slipway.register_model(f"runs:/{run.info.run_id}/notes.txt", "iris")
    assert slipway.get_model_version("iris", 1).version == 1
    assert [v.version for v in slipway.search_model_versions("iris")] == [1]
