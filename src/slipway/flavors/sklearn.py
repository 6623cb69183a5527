"""scikit-learn estimators, saved with skops by default and with pickle only on request.

skops stores an estimator as data and rebuilds it from an allowlist of types, so loading a
file cannot run code the way unpickling can. skops trusts plain sklearn estimators on its own;
:data:`DEFAULT_TRUSTED_TYPES` adds the sklearn internals that common estimators carry (tree
structures, optimizer state, calibration wrappers). Any other type in a file must be named by
the caller before the file loads.
"""

from __future__ import annotations

import io
import pickle
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slipway.core.errors import InvalidInput, PickleRefused, UntrustedTypes
from slipway.core.names import check_relative_path
from slipway.flavors.base import (
    UNTRUSTED_TYPES_KEY,
    LoadOptions,
    check_serialization,
    metadata_str,
)

# Found by saving each estimator with skops.io.dumps and listing get_untrusted_types():
# GradientBoosting*, RandomForest*, ExtraTrees*, DecisionTree*, IsolationForest, AdaBoost
# (Tree); HistGradientBoosting* (TreePredictor); MLP (optimizers); SimpleImputer (dtype);
# KNeighbors* (KDTree, BallTree, metric); CalibratedClassifierCV; VotingClassifier (Bunch).
# LogisticRegression, KMeans, SVC, PCA, scalers, encoders, Pipeline, ColumnTransformer and
# the gradient-boosting loss objects need nothing beyond skops's own defaults. Each entry is a
# state container rebuilt from arrays; none runs user code.
DEFAULT_TRUSTED_TYPES: tuple[str, ...] = (
    "numpy.dtype",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.tree._tree.Tree",
    "sklearn.utils._bunch.Bunch",
)

SERIALIZATIONS = ("skops", "pickle")
_FILES = {"skops": "model.skops", "pickle": "model.pkl"}
_METHODS = ("predict", "predict_proba")
# Estimators that compute on arrays and only check names (no selection by name).
_ARRAY_MODULES = tuple(
    f"sklearn.{m}."
    for m in (
        "ensemble",
        "linear_model",
        "tree",
        "svm",
        "neighbors",
        "naive_bayes",
        "neural_network",
        "discriminant_analysis",
        "gaussian_process",
        "kernel_ridge",
        "dummy",
    )
)


def _quiet_feature_names_warning() -> None:
    """Silence scikit-learn's "X does not have valid feature names" in this process.

    Called by :meth:`SklearnPredictor.predict_array`, in serving processes, after the columns
    were checked to be the fitted ones, in order. Re-adding an existing filter only moves it
    to the front, so calling this per batch is cheap and survives ``catch_warnings`` blocks.
    """
    warnings.filterwarnings(
        "ignore", message="X does not have valid feature names", category=UserWarning
    )


class SklearnPredictor:
    """A loaded estimator. ``methods`` lists which of predict/predict_proba it offers."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.methods = tuple(m for m in _METHODS if callable(getattr(model, m, None)))

    def predict(self, data: Any) -> Any:
        """The estimator's ``predict`` on ``data``."""
        return self.model.predict(self._adapt(data))

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities; InvalidInput when the estimator has no ``predict_proba``."""
        if "predict_proba" not in self.methods:
            raise InvalidInput(f"{type(self.model).__name__} has no predict_proba")
        return self.model.predict_proba(self._adapt(data))

    def predict_array(self, matrix: np.ndarray[Any, Any], columns: tuple[str, ...]) -> Any:
        """``predict`` on a 2-D array whose columns are named ``columns``, skipping pandas.

        For plain array estimators fitted on exactly these columns in this order, the array
        goes straight to the estimator: scikit-learn's DataFrame checks cost more than a
        100-tree model's prediction (about 1.6 ms a call here). Everything else, Pipelines
        and ColumnTransformers that select columns by name among them, gets a DataFrame.
        """
        names = getattr(self.model, "feature_names_in_", None)
        if names is None or (
            tuple(str(n) for n in names) == columns
            and type(self.model).__module__.startswith(_ARRAY_MODULES)
        ):
            _quiet_feature_names_warning()
            return self.model.predict(matrix)
        return self.predict(pd.DataFrame(matrix, columns=list(columns)))

    def _adapt(self, data: Any) -> Any:
        # Hand the estimator what it was fitted on, so it neither warns about feature names
        # nor silently matches columns by position.
        names = getattr(self.model, "feature_names_in_", None)
        if isinstance(data, pd.DataFrame):
            if names is None:
                return data.to_numpy()
            if list(data.columns) != list(names) and set(data.columns) == set(names):
                return data[list(names)]
            return data
        if (
            names is not None
            and isinstance(data, np.ndarray)
            and data.ndim == 2
            and data.shape[1] == len(names)
        ):
            return pd.DataFrame(data, columns=list(names))
        return data


def _is_estimator(model: object) -> bool:
    # sklearn.base is in sys.modules whenever a model is an estimator, so checking there keeps
    # flavor_for from importing sklearn for other models.
    base = sys.modules.get("sklearn.base")
    return base is not None and isinstance(model, base.BaseEstimator)


def _qualified_name(model: object) -> str:
    kind = type(model)
    return f"{kind.__module__}.{kind.__qualname__}"


def _untrusted_in(data: bytes, source: str) -> list[str]:
    import skops.io

    try:
        return list(skops.io.get_untrusted_types(data=data))
    except (ValueError, TypeError, KeyError, zipfile.BadZipFile) as exc:
        raise InvalidInput(f"{source} is not a readable skops file: {exc}") from None


class SklearnFlavor:
    """scikit-learn estimators (anything deriving from ``sklearn.base.BaseEstimator``)."""

    name = "sklearn"

    def accepts(self, model: object) -> bool:
        """True for scikit-learn estimators, pipelines included."""
        return _is_estimator(model)

    def save(
        self,
        model: object,
        directory: Path,
        *,
        input_example: Any | None,
        serialization: str | None = None,
    ) -> dict[str, Any]:
        """Write ``model`` with skops (default) or, when asked, pickle."""
        import sklearn
        import skops

        fmt = check_serialization(self.name, serialization, SERIALIZATIONS)
        if not callable(getattr(model, "predict", None)):
            raise InvalidInput(
                f"{_qualified_name(model)} has no predict method; wrap it in a "
                "slipway.flavors.PythonModel to save it"
            )
        file = _FILES[fmt]
        metadata: dict[str, Any] = {
            "serialization": fmt,
            "file": file,
            "estimator": _qualified_name(model),
            "methods": list(SklearnPredictor(model).methods),
            "sklearn_version": sklearn.__version__,
        }
        if fmt == "pickle":
            (directory / file).write_bytes(pickle.dumps(model, protocol=5))
            return metadata
        import skops.io

        buffer = io.BytesIO()
        skops.io.dump(model, buffer)
        data = buffer.getvalue()
        (directory / file).write_bytes(data)
        extra = set(_untrusted_in(data, file)) - set(DEFAULT_TRUSTED_TYPES)
        metadata["skops_version"] = skops.__version__
        metadata[UNTRUSTED_TYPES_KEY] = sorted(extra)
        return metadata

    def load(
        self, directory: Path, metadata: dict[str, Any], options: LoadOptions
    ) -> SklearnPredictor:
        """Rebuild the estimator; refuses pickle and unlisted skops types unless allowed."""
        fmt = metadata_str(self.name, metadata, "serialization")
        if fmt not in SERIALIZATIONS:
            raise InvalidInput(f"sklearn flavor metadata: unknown serialization {fmt!r}")
        file = check_relative_path(metadata_str(self.name, metadata, "file"))
        path = directory / file
        if not path.is_file():
            raise InvalidInput(f"sklearn model file {file} is missing from the saved model")
        data = path.read_bytes()
        source = f"sklearn model file {file}"
        if fmt == "pickle":
            if not options.allow_pickle:
                raise PickleRefused(
                    f"{source} was saved with pickle, and unpickling can run arbitrary code; "
                    "pass allow_pickle=True only if you trust where this model came from"
                )
            return SklearnPredictor(pickle.loads(data))  # noqa: S301 - opted in above
        import skops.io

        untrusted = _untrusted_in(data, source)
        refused = set(untrusted) - set(DEFAULT_TRUSTED_TYPES) - set(options.trusted_types)
        if refused:
            raise UntrustedTypes(refused, source)
        try:
            model = skops.io.loads(data, trusted=untrusted)
        except (ValueError, TypeError, KeyError, AttributeError, ImportError) as exc:
            raise InvalidInput(f"cannot load {source}: {exc}") from None
        return SklearnPredictor(model)
