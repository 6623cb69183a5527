"""Fixtures for the flavor tests: small fitted models and artifact stores."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier

from slipway.artifacts import ArtifactStore, open_artifact_store


@pytest.fixture(scope="session")
def cancer() -> tuple[pd.DataFrame, np.ndarray]:
    """The breast-cancer data set as a DataFrame (30 float columns) and 0/1 labels."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


@pytest.fixture(scope="session")
def gbc(cancer: tuple[pd.DataFrame, np.ndarray]) -> GradientBoostingClassifier:
    """A small gradient-boosting classifier fitted on the DataFrame (so with feature names)."""
    X, y = cancer
    return GradientBoostingClassifier(n_estimators=10, random_state=0).fit(X, y)


@pytest.fixture
def memory_store() -> ArtifactStore:
    return open_artifact_store(f"memory://flavors-{uuid.uuid4().hex}")


@pytest.fixture
def file_store(tmp_path: Path) -> ArtifactStore:
    return open_artifact_store((tmp_path / "artifacts").as_uri())
