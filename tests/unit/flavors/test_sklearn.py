"""The sklearn flavor: skops by default, a curated trust list, and pickle only on request."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from slipway.artifacts import ArtifactStore
from slipway.core.errors import InvalidInput, PickleRefused, UntrustedTypes
from slipway.flavors import LoadOptions, load_model, save_model
from slipway.flavors.sklearn import DEFAULT_TRUSTED_TYPES, SklearnFlavor
from tests.unit.flavors import sample_models

Data = tuple[pd.DataFrame, np.ndarray]


def _estimators(X: pd.DataFrame, y: np.ndarray) -> list[BaseEstimator]:
    mixed = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "c": ["x", "y", "x", "z"]})
    encoder = ColumnTransformer(
        [("num", StandardScaler(), ["a"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["c"])]
    )
    return [
        RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y),
        RandomForestRegressor(n_estimators=3, random_state=0).fit(X, y),
        HistGradientBoostingClassifier(max_iter=3).fit(X, y),
        HistGradientBoostingRegressor(max_iter=3).fit(X, y),
        DecisionTreeClassifier(max_depth=3).fit(X, y),
        LogisticRegression(max_iter=5000).fit(X, y),
        KMeans(n_clusters=2, n_init=1, random_state=0).fit(X),
        Pipeline([("pre", encoder), ("clf", LogisticRegression())]).fit(mixed, [0, 1, 0, 1]),
    ]


def test_common_estimators_need_nothing_beyond_the_default_trust(
    cancer: Data, tmp_path: Path
) -> None:
    X, y = cancer
    flavor = SklearnFlavor()
    for i, estimator in enumerate(_estimators(X, y)):
        directory = tmp_path / str(i)
        directory.mkdir()
        metadata = flavor.save(estimator, directory, input_example=None)
        assert metadata["untrusted_types"] == []
        flavor.load(directory, metadata, LoadOptions())


def test_the_trust_list_names_only_types_skops_does_not_trust_itself(
    gbc: BaseEstimator,
) -> None:
    # If skops starts trusting one of these, the entry is dead weight and can go.
    reported = set(skops.io.get_untrusted_types(data=skops.io.dumps(gbc)))
    assert reported <= set(DEFAULT_TRUSTED_TYPES)
    assert "sklearn.tree._tree.Tree" in reported


def test_predict_proba_is_offered_when_the_model_has_it(
    cancer: Data, gbc: BaseEstimator, memory_store: ArtifactStore
) -> None:
    X, _ = cancer
    saved = save_model(gbc, memory_store, input_example=X.head(3))
    assert saved.manifest.metadata["flavor_metadata"]["methods"] == ["predict", "predict_proba"]
    with load_model(memory_store, saved.manifest_digest) as loaded:
        np.testing.assert_allclose(loaded.predict_proba(X.head(4)), gbc.predict_proba(X.head(4)))
    kmeans = KMeans(n_clusters=2, n_init=1, random_state=0).fit(X)
    saved = save_model(kmeans, memory_store, input_example=X.head(3))
    with load_model(memory_store, saved.manifest_digest) as loaded:
        assert loaded.methods == ("predict",)
        with pytest.raises(InvalidInput, match="no predict_proba"):
            loaded.predict_proba(X.head(2))


def test_a_custom_estimator_is_untrusted_until_named(
    cancer: Data, memory_store: ArtifactStore
) -> None:
    X, y = cancer
    model = sample_models.MeanClassifier().fit(X, y)
    saved = save_model(model, memory_store, input_example=X.head(3))
    name = "tests.unit.flavors.sample_models.MeanClassifier"
    assert saved.manifest.metadata["flavor_metadata"]["untrusted_types"] == [name]
    with pytest.raises(UntrustedTypes) as caught:
        load_model(memory_store, saved.manifest_digest)
    assert caught.value.types == [name]
    assert name in str(caught.value)
    with load_model(memory_store, saved.manifest_digest, trusted_types=[name]) as loaded:
        assert loaded.predict(X.head(3)).tolist() == model.predict(X.head(3)).tolist()


def test_a_function_reference_is_untrusted_until_named(
    cancer: Data, memory_store: ArtifactStore
) -> None:
    X, y = cancer
    model = make_pipeline(
        FunctionTransformer(sample_models.double), LogisticRegression(max_iter=5000)
    ).fit(X.to_numpy(), y)
    saved = save_model(model, memory_store, input_example=X.to_numpy()[:3])
    name = "tests.unit.flavors.sample_models.double"
    with pytest.raises(UntrustedTypes, match=name):
        load_model(memory_store, saved.manifest_digest)
    with pytest.raises(UntrustedTypes):
        load_model(memory_store, saved.manifest_digest, trusted_types=["something.Else"])
    with load_model(memory_store, saved.manifest_digest, trusted_types=[name]) as loaded:
        assert loaded.predict(X.to_numpy()[:5]).tolist() == model.predict(X.to_numpy()[:5]).tolist()


def test_pickle_needs_an_explicit_opt_in(
    cancer: Data, gbc: BaseEstimator, memory_store: ArtifactStore
) -> None:
    X, _ = cancer
    saved = save_model(gbc, memory_store, input_example=X.head(3), serialization="pickle")
    assert saved.manifest.metadata["flavor_metadata"]["serialization"] == "pickle"
    with pytest.raises(PickleRefused, match="allow_pickle=True") as caught:
        load_model(memory_store, saved.manifest_digest)
    assert "arbitrary code" in str(caught.value)
    with load_model(memory_store, saved.manifest_digest, allow_pickle=True) as loaded:
        assert loaded.predict(X.head(5)).tolist() == gbc.predict(X.head(5)).tolist()


def test_unknown_serialization_is_refused(gbc: BaseEstimator, memory_store: ArtifactStore) -> None:
    with pytest.raises(InvalidInput, match="supported: skops, pickle"):
        save_model(gbc, memory_store, serialization="joblib")


def test_trusted_types_must_be_a_list(gbc: BaseEstimator, memory_store: ArtifactStore) -> None:
    saved = save_model(gbc, memory_store)
    with pytest.raises(InvalidInput, match="list of type names"):
        load_model(memory_store, saved.manifest_digest, trusted_types="sklearn.tree._tree.Tree")


def test_an_estimator_without_predict_is_refused(cancer: Data, memory_store: ArtifactStore) -> None:
    X, _ = cancer
    with pytest.raises(InvalidInput, match="no predict method"):
        save_model(StandardScaler().fit(X), memory_store)


def test_an_array_fed_to_a_frame_fitted_model_raises_no_warning(
    cancer: Data, gbc: BaseEstimator, memory_store: ArtifactStore
) -> None:
    # Without a signature the raw array reaches the flavor, which restores feature names.
    X, _ = cancer
    saved = save_model(gbc, memory_store)
    with load_model(memory_store, saved.manifest_digest) as loaded:
        assert loaded.predict(X.to_numpy()[:5]).tolist() == gbc.predict(X.head(5)).tolist()


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ({"serialization": "marshal", "file": "model.skops"}, "unknown serialization"),
        ({"serialization": "skops", "file": "../model.skops"}, "invalid artifact path"),
        ({"serialization": "skops", "file": "absent.skops"}, "missing"),
        ({"file": "model.skops"}, "serialization"),
    ],
)
def test_malformed_flavor_metadata_is_invalid_input(
    tmp_path: Path, metadata: dict[str, str], problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        SklearnFlavor().load(tmp_path, metadata, LoadOptions())


def test_a_corrupt_skops_file_is_invalid_input(tmp_path: Path) -> None:
    (tmp_path / "model.skops").write_bytes(b"not a zip file")
    with pytest.raises(InvalidInput, match="not a readable skops file"):
        SklearnFlavor().load(
            tmp_path, {"serialization": "skops", "file": "model.skops"}, LoadOptions()
        )
