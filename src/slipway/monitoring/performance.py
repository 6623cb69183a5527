"""Model performance per window: realised once labels join, estimated (CBPE) before.

The prediction log (see :mod:`slipway.serving.predlog`) and the label store (see
:mod:`slipway.monitoring.labels`) are joined in DuckDB on ``(request_id, row)``, keeping the
current label of each key, answered rows only (status below 300) and no shadow answers. Rows
are cut into the same tumbling windows as :mod:`slipway.monitoring.windows` (epoch-aligned
spans such as ``1h``, or ``every_n`` consecutive predictions), per model version.

Task detection, from the type of the prediction column (``out_<name>``): boolean, integer or
string → classification; floating point → regression. Pass ``task=`` to override (e.g. a
classifier whose classes are logged as floats).

Classification metrics: ``accuracy``; for a binary task with a known positive class (``1`` or
``true`` by default, else ``positive_class=``) ``precision``, ``recall``, ``f1`` and, when the
log has a score column (the probability of the positive class), ``roc_auc``; for more classes
macro ``f1``. Class values are compared by meaning, not type: ``1``, ``1.0``, ``"1"`` and
``true`` are the same class. Regression: ``mae`` and ``rmse``. A metric that cannot be computed
is None and its reason is in ``WindowPerformance.reasons``.

CBPE (confidence-based performance estimation, as in NannyML) estimates the binary metrics
from the scores alone, so a window has estimates before any label arrives. With ``p`` the
calibrated probability of the positive class of each prediction and ``ŷ`` the predicted
class, the expected confusion matrix is TP = Σ p·[ŷ=1], FP = Σ (1-p)·[ŷ=1],
FN = Σ p·[ŷ=0], TN = Σ (1-p)·[ŷ=0]; accuracy, precision, recall and F1 follow (when ŷ is
``p ≥ 0.5`` the expected accuracy is mean(max(p, 1-p))). The expected ROC AUC sorts the rows
by score and treats each row as p of a positive and 1-p of a negative: the expected true and
false positive counts above each threshold give a curve whose area is the estimate (NannyML
sorts by the calibrated probability; sorting by the raw score ranks exactly as the model does).
Assumptions: the scores are calibrated, and the relation between score and outcome
(P(y | score)) is the same in production as where calibration was done; only the input
distribution may shift. Given ``reference`` (scores with their true labels, e.g. the test set
or a labelled production period), an isotonic regression of label on score is fitted and used
as ``p``; without one the scores are assumed calibrated and the report says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from slipway.core.errors import InvalidInput
from slipway.monitoring.labels import current_labels_sql, labels_glob
from slipway.monitoring.windows import parse_span
from slipway.serving.predlog import read_sql_glob

Task = Literal["classification", "regression"]
Metrics = dict[str, float | None]
SCORE_COLUMNS = ("probability", "proba", "score", "predict_proba", "probabilities")
"""Output names taken as the positive-class score when ``score=`` is not given."""
_PREDICTION_NAMES = ("prediction", "predict", "label", "output", "class")
_CLASSIFICATION_TYPES = ("BOOLEAN", "VARCHAR", "TINYINT", "SMALLINT", "INTEGER", "BIGINT")
_REGRESSION_TYPES = ("FLOAT", "DOUBLE")
_NUMERIC = ("FLOAT", "DOUBLE", "TINYINT", "SMALLINT", "INTEGER", "BIGINT")
_LOG = "read_parquet(?, hive_partitioning = true, union_by_name = true)"


@dataclass(frozen=True, slots=True)
class WindowPerformance:
    """One window of one model version."""

    window_start: datetime
    window_end: datetime
    version: int
    predictions: int
    labelled: int
    coverage: float
    """labelled / predictions."""
    metrics: Metrics
    """Realised, on the labelled rows."""
    estimated: Metrics = field(default_factory=dict)
    """CBPE estimates, on all the window's predictions (binary classifiers with scores)."""
    reasons: dict[str, str] = field(default_factory=dict)
    """Why a metric is None; estimated metrics are keyed ``estimated.<name>``."""


@dataclass(frozen=True, slots=True)
class PerformanceReport:
    """Performance of a deployment over windows, with how it was computed."""

    deployment: str
    task: Task | None
    """None when nothing has been logged."""
    prediction: str | None
    score: str | None
    positive_class: str | None
    classes: list[str]
    calibration: str
    """How scores became probabilities for CBPE, or why there is no estimate."""
    reference_calibration_error: float | None
    """Expected calibration error (10 bins) of the raw scores on the reference set."""
    windows: list[WindowPerformance]

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values (times in ISO 8601)."""
        doc = asdict(self)
        for window in doc["windows"]:
            window["window_start"] = window["window_start"].isoformat()
            window["window_end"] = window["window_end"].isoformat()
        return doc


def compute_performance(
    log_root: Path,
    labels_root: Path | None,
    deployment: str,
    *,
    window: str | None = "1h",
    every_n: int | None = None,
    version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    task: Task | None = None,
    prediction: str | None = None,
    score: str | None = None,
    positive_class: Any = None,
    reference: pd.DataFrame | None = None,
) -> PerformanceReport:
    """Realised and (for binary classifiers with a score) estimated performance per window.

    ``prediction`` and ``score`` name output columns (``out_`` prefix optional); by default the
    score is the first of :data:`SCORE_COLUMNS` logged, and the prediction the only other
    output (or one named like ``prediction``/``predict``/``label``). ``reference`` is a frame
    with ``score`` and ``label`` columns to calibrate the scores on. ``labels_root`` None:
    estimates only.
    """
    span = _span(window, every_n)
    try:
        pattern = read_sql_glob(log_root, deployment, version)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    empty = PerformanceReport(deployment, task, None, None, None, [], "no predictions", None, [])
    if not _exists(pattern):
        return empty
    with duckdb.connect() as connection:
        described = connection.execute(f"describe select * from {_LOG}", [pattern]).fetchall()
        types = {str(row[0]): str(row[1]) for row in described}
        score_column = _score_column(types, score)
        prediction_column = _prediction_column(types, prediction, score_column)
        task = task or _task(types[prediction_column], prediction_column)
        rows = _joined(
            connection,
            pattern,
            labels_root,
            deployment,
            prediction_column,
            score_column,
            since,
            until,
        )
    if rows.empty:
        return empty
    if task == "classification":
        rows["prediction"] = _classes(rows["prediction"])
        rows["label"] = _classes(rows["label"])
    else:
        rows["prediction"] = rows["prediction"].astype(np.float64)
        rows["label"] = _numbers(rows["label"])
    classes = _all_classes(rows) if task == "classification" else []
    positive = _positive(classes, positive_class)
    scorer = _Scorer(task, classes, positive, score_column is not None)
    calibrate, calibration, ece = _calibration(scorer, rows, reference, positive)
    windows = [
        _window(start, end, number, part, scorer, calibrate)
        for start, end, number, part in _cut(rows, span, every_n)
    ]
    return PerformanceReport(
        deployment=deployment,
        task=task,
        prediction=prediction_column,
        score=score_column,
        positive_class=positive,
        classes=classes,
        calibration=calibration,
        reference_calibration_error=ece,
        windows=windows,
    )


def estimate_performance(
    log_root: Path,
    deployment: str,
    *,
    window: str | None = "1h",
    every_n: int | None = None,
    version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    prediction: str | None = None,
    score: str | None = None,
    positive_class: Any = None,
    reference: pd.DataFrame | None = None,
) -> PerformanceReport:
    """CBPE estimates per window without labels (see :func:`compute_performance`)."""
    return compute_performance(
        log_root,
        None,
        deployment,
        window=window,
        every_n=every_n,
        version=version,
        since=since,
        until=until,
        prediction=prediction,
        score=score,
        positive_class=positive_class,
        reference=reference,
    )


# -- columns and the join ---------------------------------------------------------------------


def _span(window: str | None, every_n: int | None) -> timedelta | None:
    if every_n is not None:
        if every_n < 1:
            raise InvalidInput(f"every_n must be a positive count, got {every_n}")
        return None
    if window is None:
        raise InvalidInput("give a time window (e.g. 1h) or every_n")
    return parse_span(window)


def _exists(pattern: str) -> bool:
    path = Path(pattern)  # <root>/<deployment>/<version>/date=*/*.parquet
    base = path.parents[2]
    return next(base.glob(str(path.relative_to(base))), None) is not None


def _output(types: dict[str, str], name: str, what: str) -> str:
    column = name if name.startswith("out_") else f"out_{name}"
    if column not in types:
        outputs = sorted(c for c in types if c.startswith("out_"))
        raise InvalidInput(f"{what} column {column!r} is not in the log (outputs: {outputs})")
    return column


def _score_column(types: dict[str, str], score: str | None) -> str | None:
    column: str | None
    if score is not None:
        column = _output(types, score, "score")
    else:
        column = next((f"out_{n}" for n in SCORE_COLUMNS if f"out_{n}" in types), None)
    if column is not None and not _is_score_type(types[column]):
        raise InvalidInput(f"score column {column!r} is {types[column]}, not a number")
    return column


def _is_score_type(kind: str) -> bool:
    return kind in _NUMERIC or kind in ("DOUBLE[]", "FLOAT[]")


def _prediction_column(types: dict[str, str], prediction: str | None, score: str | None) -> str:
    if prediction is not None:
        return _output(types, prediction, "prediction")
    outputs = [c for c in types if c.startswith("out_") and c != score]
    named = [f"out_{n}" for n in _PREDICTION_NAMES if f"out_{n}" in outputs]
    if len(outputs) == 1 or named:
        return outputs[0] if len(outputs) == 1 else named[0]
    raise InvalidInput(f"pass prediction=: which output is the prediction? {sorted(outputs)}")


def _task(kind: str, column: str) -> Task:
    if kind in _CLASSIFICATION_TYPES:
        return "classification"
    if kind in _REGRESSION_TYPES:
        return "regression"
    raise InvalidInput(f"cannot tell the task from {column!r} of type {kind}: pass task=")


def _joined(
    connection: duckdb.DuckDBPyConnection,
    pattern: str,
    labels_root: Path | None,
    deployment: str,
    prediction: str,
    score: str | None,
    since: datetime | None,
    until: datetime | None,
) -> pd.DataFrame:
    where = ["p.status < 300", "p.route <> 'shadow'", f'p."{prediction}" is not null']
    params: list[object] = [pattern]
    score_sql = "null" if score is None else f'p."{score}"'
    label_sql, join = "null", ""
    if labels_root is not None:
        glob = labels_glob(labels_root, deployment)
        if _exists_labels(glob):
            label_sql = "l.label"
            join = (
                f"left join ({current_labels_sql()}) l "
                "on p.request_id = l.request_id and p.row = l.row"
            )
            params.append(glob)
    for bound, op, date_op in ((since, ">=", ">="), (until, "<", "<=")):
        if bound is not None:
            if bound.tzinfo is None:
                raise InvalidInput("since and until must be timezone-aware")
            where += [f"p.time {op} ?", f"p.date {date_op} ?"]
            params += [bound.astimezone(UTC), bound.astimezone(UTC).date()]
    frame: pd.DataFrame = connection.execute(
        f'select p.model_version as version, p.time, p."{prediction}" as prediction, '
        f"{score_sql} as score, {label_sql} as label from {_LOG} p {join} "
        f"where {' and '.join(where)} order by version, p.time, p.request_id, p.row",
        params,
    ).df()
    return frame


def _exists_labels(glob: str) -> bool:
    path = Path(glob)  # <root>/<deployment>/date=*/*.parquet
    return next(path.parents[1].glob(f"{path.parent.name}/{path.name}"), None) is not None


# -- values -----------------------------------------------------------------------------------


def _class(value: Any) -> str:
    """A class by meaning: 1, 1.0, "1", True and "true" are all ``"1"``."""
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    text = str(value).strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return "1" if lowered == "true" else "0"
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else repr(number)


def _classes(values: pd.Series) -> pd.Series:
    present = values.dropna()
    mapping = {v: _class(v) for v in pd.unique(present)}
    return values.map(mapping, na_action="ignore").astype(object)


def _numbers(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    if (numbers.isna() & values.notna()).any():
        raise InvalidInput("regression labels must be numbers")
    return numbers.astype(np.float64)


def _all_classes(rows: pd.DataFrame) -> list[str]:
    found = set(rows["prediction"].dropna()) | set(rows["label"].dropna())
    return sorted(found, key=lambda c: (len(c), c))


def _positive(classes: list[str], positive_class: Any) -> str | None:
    if positive_class is not None:
        return _class(positive_class)
    if len(classes) <= 2 and set(classes) <= {"0", "1"}:
        return "1"
    return None


def _scores(values: pd.Series) -> np.ndarray[Any, Any]:
    """Positive-class scores; a per-row list (predict_proba of a binary model) gives [1]."""
    if values.dtype == object:
        values = values.map(lambda v: v[1] if v is not None and len(v) == 2 else np.nan)
    return np.asarray(values, dtype=np.float64)


# -- calibration ------------------------------------------------------------------------------

Calibrator = Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]]
"""Scores to probabilities of the positive class."""
Calibrate = Calibrator | None


def _calibration(
    scorer: _Scorer, rows: pd.DataFrame, reference: pd.DataFrame | None, positive: str | None
) -> tuple[Calibrate, str, float | None]:
    why = scorer.why_no_estimate()
    if why is not None:
        return None, f"no estimate: {why}", None
    if reference is None:
        scores = _scores(rows["score"])
        if np.nanmin(scores) < 0 or np.nanmax(scores) > 1:
            return None, "no estimate: scores are not probabilities; pass a reference set", None
        return _identity, "none: scores assumed calibrated (no reference set given)", None
    missing = {"score", "label"} - set(reference.columns)
    if missing:
        raise InvalidInput(f"reference needs the columns score and label, missing {missing}")
    ref_scores = _scores(reference["score"])
    outcome = (_classes(reference["label"]) == positive).to_numpy(dtype=np.float64)
    ok = ~np.isnan(ref_scores)
    if ok.sum() < 2 or len(set(outcome[ok])) < 2:
        raise InvalidInput("reference needs scores with labels of both classes")
    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    isotonic.fit(ref_scores[ok], outcome[ok])
    ece = _calibration_error(ref_scores[ok], outcome[ok])
    return isotonic.predict, f"isotonic, fitted on {int(ok.sum())} reference rows", ece


def _identity(scores: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return scores


def _calibration_error(scores: np.ndarray[Any, Any], outcome: np.ndarray[Any, Any]) -> float:
    """Expected calibration error over 10 equal-width bins of the score range."""
    low, high = float(scores.min()), float(scores.max())
    edges = np.linspace(low, high, 11)[1:-1]
    bins = np.digitize(scores, edges)
    error = 0.0
    for b in np.unique(bins):
        inside = bins == b
        error += inside.mean() * abs(scores[inside].mean() - outcome[inside].mean())
    return float(error)


# -- windows and metrics ----------------------------------------------------------------------


def _cut(
    rows: pd.DataFrame, span: timedelta | None, every_n: int | None
) -> list[tuple[datetime, datetime, int, pd.DataFrame]]:
    cut = []
    for number, part in rows.groupby("version", sort=True):
        times = pd.to_datetime(part["time"], utc=True)
        epoch = times.dt.tz_convert(None).to_numpy().astype("datetime64[s]").astype("int64")
        if span is not None:
            seconds = int(span.total_seconds())
            keys = (epoch // seconds) * seconds
        else:
            assert every_n is not None
            keys = np.arange(len(part)) // every_n
        for key, piece in part.groupby(np.asarray(keys), sort=True):
            if span is not None:
                start = datetime.fromtimestamp(int(str(key)), UTC)
                end = start + span
            else:
                piece_times = times.loc[piece.index]
                start = piece_times.min().to_pydatetime()
                end = piece_times.max().to_pydatetime()
            cut.append((start, end, int(str(number)), piece))
    return cut


def _window(
    start: datetime,
    end: datetime,
    version: int,
    part: pd.DataFrame,
    scorer: _Scorer,
    calibrate: Calibrate,
) -> WindowPerformance:
    labelled = part[part["label"].notna()]
    reasons: dict[str, str] = {}
    metrics = scorer.realised(labelled, reasons)
    estimated: Metrics = {}
    if calibrate is not None:
        estimated = _estimate(part, scorer.positive or "", calibrate, reasons)
    return WindowPerformance(
        window_start=start,
        window_end=end,
        version=version,
        predictions=len(part),
        labelled=len(labelled),
        coverage=len(labelled) / len(part),
        metrics=metrics,
        estimated=estimated,
        reasons=reasons,
    )


@dataclass(frozen=True, slots=True)
class _Scorer:
    task: Task
    classes: list[str]
    positive: str | None
    has_score: bool

    @property
    def binary(self) -> bool:
        return len(self.classes) <= 2

    def names(self) -> list[str]:
        if self.task == "regression":
            return ["mae", "rmse"]
        if self.binary:
            return ["accuracy", "precision", "recall", "f1", "roc_auc"]
        return ["accuracy", "f1", "roc_auc"]

    def why_no_estimate(self) -> str | None:
        if self.task != "classification" or not self.binary:
            return "CBPE here covers binary classifiers only"
        if not self.has_score:
            return "the log has no score column (probability of the positive class)"
        if self.positive is None:
            return f"classes {self.classes}: pass positive_class"
        return None

    def realised(self, rows: pd.DataFrame, reasons: dict[str, str]) -> Metrics:
        metrics: Metrics = dict.fromkeys(self.names())
        if rows.empty:
            reasons.update(dict.fromkeys(metrics, "no labelled predictions in this window"))
            return metrics
        y, predicted = rows["label"].to_numpy(), rows["prediction"].to_numpy()
        if self.task == "regression":
            errors = predicted.astype(np.float64) - y.astype(np.float64)
            metrics["mae"] = float(np.mean(np.abs(errors)))
            metrics["rmse"] = float(np.sqrt(np.mean(errors**2)))
            return metrics
        metrics["accuracy"] = float(accuracy_score(y, predicted))
        if not self.binary:
            metrics["f1"] = float(f1_score(y, predicted, average="macro", zero_division=0.0))
            reasons["roc_auc"] = "multiclass ROC AUC needs per-class scores: not computed"
            return metrics
        if self.positive is None:
            for name in ("precision", "recall", "f1", "roc_auc"):
                reasons[name] = f"classes {self.classes}: pass positive_class"
            return metrics
        actual, guessed = y == self.positive, predicted == self.positive
        counts = _Confusion.of(actual.astype(np.float64), guessed)
        metrics.update(counts.ratios(reasons, ""))
        if not self.has_score:
            reasons["roc_auc"] = "the log has no score column (probability of the positive class)"
        elif actual.all() or not actual.any():
            reasons["roc_auc"] = "ROC AUC needs labels of both classes in the window"
        else:
            scores = _scores(rows["score"])
            ok = ~np.isnan(scores)
            metrics["roc_auc"] = float(roc_auc_score(actual[ok], scores[ok]))
        return metrics


@dataclass(frozen=True, slots=True)
class _Confusion:
    tp: float
    fp: float
    fn: float
    tn: float

    @classmethod
    def of(cls, positive: np.ndarray[Any, Any], guessed: np.ndarray[Any, Any]) -> _Confusion:
        """Counts, or expected counts when ``positive`` holds probabilities."""
        return cls(
            tp=float(np.sum(positive * guessed)),
            fp=float(np.sum((1 - positive) * guessed)),
            fn=float(np.sum(positive * ~guessed)),
            tn=float(np.sum((1 - positive) * ~guessed)),
        )

    def ratios(self, reasons: dict[str, str], prefix: str) -> Metrics:
        total = self.tp + self.fp + self.fn + self.tn
        metrics: Metrics = {"accuracy": (self.tp + self.tn) / total if total else None}
        for name, top, bottom, why in (
            ("precision", self.tp, self.tp + self.fp, "no positive predictions"),
            ("recall", self.tp, self.tp + self.fn, "no positives among the labels"),
            ("f1", 2 * self.tp, 2 * self.tp + self.fp + self.fn, "no positives at all"),
        ):
            metrics[name] = top / bottom if bottom else None
            if not bottom:
                reasons[prefix + name] = why
        return metrics


def _estimate(
    rows: pd.DataFrame, positive: str, calibrate: Calibrator, reasons: dict[str, str]
) -> Metrics:
    raw = _scores(rows["score"])
    ok = ~np.isnan(raw)
    if not ok.any():
        reasons["estimated.accuracy"] = "no scores logged in this window"
        return dict.fromkeys(("accuracy", "precision", "recall", "f1", "roc_auc"))
    raw = raw[ok]
    p = np.clip(np.asarray(calibrate(raw), dtype=np.float64), 0.0, 1.0)
    guessed = (rows["prediction"].to_numpy()[ok] == positive).astype(bool)
    estimated = _Confusion.of(p, guessed).ratios(reasons, "estimated.")
    estimated["roc_auc"] = _expected_auc(raw, p)
    if estimated["roc_auc"] is None:
        reasons["estimated.roc_auc"] = "every prediction is certain of one class"
    return estimated


def _expected_auc(raw: np.ndarray[Any, Any], p: np.ndarray[Any, Any]) -> float | None:
    """Area under the expected ROC curve: rows by descending score, each p positive and
    1 - p negative; one threshold per distinct score."""
    order = np.argsort(-raw, kind="stable")
    raw, p = raw[order], p[order]
    tps, fps = np.cumsum(p), np.cumsum(1.0 - p)
    if tps[-1] <= 0 or fps[-1] <= 0:
        return None
    last = np.r_[np.nonzero(np.diff(raw))[0], len(raw) - 1]  # end of each run of equal scores
    tpr = np.r_[0.0, tps[last] / tps[-1]]
    fpr = np.r_[0.0, fps[last] / fps[-1]]
    return float(np.trapezoid(tpr, fpr))
