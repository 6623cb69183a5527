"""Models the flavor tests save and load; importable so python_function can find them again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from slipway.flavors import PythonModel


class ThresholdModel(PythonModel):
    """Flags rows whose feature exceeds a threshold; the scale factor comes from an artifact."""

    def __init__(self, *, feature: str, threshold: float) -> None:
        super().__init__(feature=feature, threshold=threshold)
        self.feature = feature
        self.threshold = threshold
        self.scale = 1.0
        self.artifacts: dict[str, str] = {}

    def load_context(self, artifacts_dir: Path) -> None:
        settings = artifacts_dir / "settings.json"
        if settings.is_file():
            self.scale = float(json.loads(settings.read_text())["scale"])

    def predict(self, data: Any) -> Any:
        values = pd.DataFrame(data)[self.feature].to_numpy()
        return (values * self.scale > self.threshold).astype(np.int64)


def row_sums(data: Any) -> Any:
    """A plain function model: the sum of each row."""
    return np.asarray(data).sum(axis=1)


def double(x: Any) -> Any:
    """Referenced from a skops file by FunctionTransformer: an untrusted function."""
    return x * 2


class MeanClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A custom estimator: skops does not trust its type unless told to."""

    def fit(self, X: Any, y: Any) -> MeanClassifier:
        self.classes_ = np.unique(y)
        self.positive_ = bool(np.mean(y) > 0.5)
        return self

    def predict(self, X: Any) -> Any:
        return np.full(len(X), int(self.positive_), dtype=np.int64)
