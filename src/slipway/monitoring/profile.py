"""The reference profile: what drift tests need to know about a model's training data.

A :class:`ReferenceProfile` summarises each feature (and the model's predictions) in a few
kilobytes, so production data can be tested for drift without keeping the training set:

- numerical: 1,001 quantiles (0, 0.001, …, 1), mean, population std, 20 reference-quantile
  bins with their counts, and — for at most 20 distinct values — the exact value counts;
- categorical: a frequency table of at most 1,000 categories; the rarer ones are summed into
  ``__other__`` (``truncated`` is then true and unseen current categories are folded into it,
  so a new category can no longer be told from a rare one).

It is stored with a model version as a canonical JSON blob in the artifact store (sorted keys,
no whitespace, shortest round-trip floats: the same profile always gives the same bytes and
digest), its sha256 recorded in the version tag ``slipway.reference_profile``.
"""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, ValidationError

from slipway.core.errors import InvalidInput
from slipway.monitoring.drift import (
    Kind,
    as_frame,
    category_counts,
    detect_kind,
    few_distinct,
    map_columns,
    numeric_values,
    quantile_bins,
    sorted_quantiles,
)
from slipway.registry.client import RegistryClient
from slipway.workspace import Workspace

SCHEMA_VERSION = 1
PROFILE_TAG = "slipway.reference_profile"
N_QUANTILES = 1000
MAX_CATEGORIES = 1000
OTHER = "__other__"


class NumericalSummary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    quantiles: list[float]
    mean: float
    std: float
    bin_edges: list[float]
    bin_counts: list[int]
    values: list[float] | None = None
    value_counts: list[int] | None = None


class CategoryTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    counts: dict[str, int]
    truncated: bool = False


class FeatureProfile(BaseModel):
    """One column: its kind, row count (missing included), and distribution summary."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind
    count: int
    missing: int
    missing_rate: float
    numerical: NumericalSummary | None = None
    categories: CategoryTable | None = None


class ReferenceProfile(BaseModel):
    """Per-feature summaries of a reference dataset, plus the prediction distribution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    rows: int
    features: dict[str, FeatureProfile]
    prediction_column: str | None = None
    prediction: FeatureProfile | None = None

    def to_json_bytes(self) -> bytes:
        """Canonical JSON: deterministic bytes for equal profiles."""
        return json.dumps(
            self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), allow_nan=False
        ).encode()

    @classmethod
    def from_json_bytes(cls, data: bytes) -> ReferenceProfile:
        """Parse :meth:`to_json_bytes` output; an unknown ``schema_version`` is refused."""
        try:
            raw = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"reference profile is not valid JSON: {exc}") from None
        if not isinstance(raw, dict) or raw.get("schema_version") != SCHEMA_VERSION:
            version = raw.get("schema_version") if isinstance(raw, dict) else None
            raise InvalidInput(
                f"reference profile schema_version {version!r} is not supported "
                f"(this Slipway reads {SCHEMA_VERSION})"
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise InvalidInput(f"malformed reference profile: {exc}") from None


def profile_feature(series: pd.Series, column: str, kind: Kind | None = None) -> FeatureProfile:
    """Summarise one column (kind detected from its dtype unless given)."""
    kind = kind or detect_kind(series)
    if kind == "numerical":
        values, missing = numeric_values(series, column, "reference")
        edges, counts = quantile_bins(values)
        distinct = few_distinct(values)
        summary = NumericalSummary(
            quantiles=sorted_quantiles(values, np.arange(N_QUANTILES + 1) / N_QUANTILES).tolist(),
            mean=float(np.mean(values)),
            std=float(np.std(values)),
            bin_edges=edges.tolist(),
            bin_counts=counts.tolist(),
            values=None if distinct is None else distinct[0].tolist(),
            value_counts=None if distinct is None else distinct[1].tolist(),
        )
        return FeatureProfile(
            kind=kind,
            count=len(series),
            missing=missing,
            missing_rate=missing / len(series),
            numerical=summary,
        )
    table, missing = category_counts(series, column, "reference")
    return FeatureProfile(
        kind=kind,
        count=len(series),
        missing=missing,
        missing_rate=missing / len(series),
        categories=_capped(table),
    )


def _capped(table: dict[str, int]) -> CategoryTable:
    if len(table) <= MAX_CATEGORIES:
        return CategoryTable(counts=dict(sorted(table.items())))
    ranked = sorted(table.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = dict(ranked[:MAX_CATEGORIES])
    kept[OTHER] = kept.get(OTHER, 0) + sum(count for _, count in ranked[MAX_CATEGORIES:])
    return CategoryTable(counts=dict(sorted(kept.items())), truncated=True)


def compute_profile(
    data: pd.DataFrame | NDArray[np.generic],
    prediction: str | pd.Series | NDArray[np.generic] | None = None,
    *,
    kinds: dict[str, Kind] | None = None,
    workers: int | None = None,
) -> ReferenceProfile:
    """Profile every column of ``data``.

    ``prediction`` is the model's output on the same rows: the name of a column of ``data``
    (then profiled as the prediction, not as a feature), or a series/array of the same length
    (stored under the name ``"prediction"``). ``kinds`` overrides dtype-based kind detection.
    Columns are profiled on ``workers`` threads (:func:`~slipway.monitoring.drift.map_columns`).
    """
    frame = as_frame(data, "reference")
    kinds = kinds or {}
    pred_name: str | None = None
    pred_series: pd.Series | None = None
    if isinstance(prediction, str):
        if prediction not in frame.columns:
            raise InvalidInput(f"prediction column {prediction!r} is not in the data")
        pred_name, pred_series = prediction, frame[prediction]
    elif prediction is not None:
        pred_series = pd.Series(np.asarray(prediction).reshape(-1))
        pred_name = "prediction"
        if pred_name in frame.columns:
            raise InvalidInput("data has a column named 'prediction': pass its name instead")
        if len(pred_series) != len(frame):
            raise InvalidInput(f"prediction has {len(pred_series)} rows, the data {len(frame)}")
    # The columns are taken out of the frame before the threads start (see column_drift).
    columns = {str(c): frame[c] for c in frame.columns if str(c) != pred_name}
    summaries = map_columns(
        lambda name: profile_feature(columns[name], name, kinds.get(name)),
        list(columns),
        workers,
        rows=len(frame),
    )
    features = dict(zip(columns, summaries, strict=True))
    pred_profile = None
    if pred_series is not None and pred_name is not None:
        pred_profile = profile_feature(pred_series, pred_name, kinds.get(pred_name))
    return ReferenceProfile(
        rows=len(frame), features=features, prediction_column=pred_name, prediction=pred_profile
    )


def attach_profile(
    workspace: Workspace, model_name: str, version: int, profile: ReferenceProfile
) -> str:
    """Store ``profile`` as a blob and tag the model version with its sha256; returns it."""
    registry = RegistryClient(workspace)
    registry.get_model_version(model_name, version)  # NotFound before anything is written
    digest = workspace.artifacts.put_bytes(profile.to_json_bytes()).digest
    registry.set_model_version_tag(model_name, version, PROFILE_TAG, digest)
    return digest


def load_profile(workspace: Workspace, model_name: str, version: int) -> ReferenceProfile | None:
    """The profile attached to the version, or ``None``; IntegrityError if its blob was altered."""
    mv = RegistryClient(workspace).get_model_version(model_name, version)
    digest = mv.tags.get(PROFILE_TAG)
    if digest is None:
        return None
    return ReferenceProfile.from_json_bytes(workspace.artifacts.get_bytes(digest))
