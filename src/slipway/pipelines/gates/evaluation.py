"""Metrics of a model on evaluation data, whole or sliced, with scikit-learn's metrics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from slipway.core.errors import InvalidInput
from slipway.flavors import LoadedModel
from slipway.pipelines.gates.config import METRICS, SliceSpec, Task

Metrics = dict[str, float | None]


def read_table(path: Path) -> pd.DataFrame:
    """A Parquet or CSV file (told apart by Parquet's magic bytes: inputs keep no suffix)."""
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic == b"PAR1":
        return pd.read_parquet(path)
    try:
        return pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"evaluation data is neither Parquet nor CSV: {exc}") from None


def features_for(model: LoadedModel, data: pd.DataFrame, label: str) -> pd.DataFrame:
    """The columns the model takes: its signature's, else every column but the label.

    Columns only used to define slices stay out of what the model sees.
    """
    if label not in data.columns:
        raise InvalidInput(f"evaluation data has no label column {label!r}")
    signature = model.signature
    if signature is not None and signature.inputs.kind == "columns":
        missing = [n for n in signature.inputs.names if n not in data.columns]
        if missing:
            raise InvalidInput(
                f"evaluation data lacks the model's input column(s) {', '.join(missing)}"
            )
        return data[list(signature.inputs.names)]
    return data.drop(columns=[label])


def evaluate(model: LoadedModel, features: pd.DataFrame, labels: pd.Series, task: Task) -> Metrics:
    """Every metric of ``task``; a metric the model or the data cannot give is ``None``."""
    y_true = labels.to_numpy()
    y_pred = np.asarray(model.predict(features))
    if task == "regression":
        errors = y_true.astype(float) - y_pred.astype(float)
        return {
            "mae": float(np.mean(np.abs(errors))),
            "rmse": float(math.sqrt(np.mean(errors**2))),
            "r2": _safe(lambda: skm.r2_score(y_true, y_pred)) if len(y_true) > 1 else None,
        }
    classes = _classes(model, y_true)
    binary = len(classes) == 2
    result: Metrics = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "f1": _safe(
            lambda: skm.f1_score(
                y_true,
                y_pred,
                average="binary" if binary else "macro",
                pos_label=classes[-1] if binary else 1,
                labels=None if binary else classes,
                zero_division=0,
            )
        ),
        "roc_auc": None,
        "log_loss": None,
    }
    if "predict_proba" in model.methods:
        proba = np.asarray(model.predict_proba(features), dtype=float)
        if binary:
            result["roc_auc"] = _safe(lambda: skm.roc_auc_score(y_true == classes[-1], proba[:, 1]))
        else:
            result["roc_auc"] = _safe(
                lambda: skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)
            )
        result["log_loss"] = _safe(lambda: skm.log_loss(y_true, proba, labels=classes))
    assert set(result) == set(METRICS["classification"])
    return result


def _classes(model: LoadedModel, y_true: np.ndarray[Any, Any]) -> list[Any]:
    # predict_proba's columns follow the estimator's classes_, which need not all be in the data.
    estimator = getattr(model.raw, "model", None)
    classes = getattr(estimator, "classes_", None)
    if classes is not None:
        return list(classes)
    return sorted(np.unique(y_true).tolist())


def _safe(compute: Any) -> float | None:
    """A metric undefined on this data (one class in a slice, say) is None, not an error."""
    try:
        value = float(compute())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def slice_mask(data: pd.DataFrame, spec: SliceSpec) -> pd.Series:
    """Rows of ``data`` in the slice; a value from ``where`` text matches numbers too."""
    column, equals, low, high = spec.condition()
    if column not in data.columns:
        raise InvalidInput(f"slice {spec.name!r}: evaluation data has no column {column!r}")
    values = data[column]
    mask = pd.Series(True, index=data.index)
    if equals is not None:
        if isinstance(equals, str) and pd.api.types.is_numeric_dtype(values):
            try:
                mask &= values == float(equals)
            except ValueError:
                mask &= values.astype(str) == equals
        elif isinstance(equals, str):
            mask &= values.astype(str) == equals
        else:
            mask &= values == equals
    if low is not None:
        mask &= values >= low
    if high is not None:
        mask &= values < high
    return mask
