"""Performance per window from a real prediction log and label store, checked against sklearn."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    recall_score,
    roc_auc_score,
)

from slipway.core.errors import InvalidInput
from slipway.monitoring.labels import ingest_labels
from slipway.monitoring.performance import compute_performance, estimate_performance
from slipway.serving.predlog import PredictionLog, PredictionRecord

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DEPLOYMENT = "churn"


@dataclass
class Store:
    logs: Path
    labels: Path


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "logs", tmp_path / "labels")


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def write_log(root: Path, records: list[PredictionRecord]) -> None:
    log = PredictionLog(root, flush_interval_s=60)
    log.start()
    for record in records:
        assert log.submit(record)
    log.close(timeout=10)
    assert log.write_errors == 0


def record(
    request_id: str,
    when: datetime,
    outputs: dict[str, Any] | None,
    *,
    version: int = 1,
    route: str = "champion",
    status: int = 200,
) -> PredictionRecord:
    rows = 1 if outputs is None else len(next(iter(outputs.values())))
    return PredictionRecord(
        request_id=request_id,
        time_ms=ms(when),
        deployment=DEPLOYMENT,
        model_name="churn-model",
        model_version=version,
        route=route,
        latency_ms=1.0,
        status=status,
        inputs={"x": np.arange(rows, dtype=np.float64)},
        outputs=outputs,
        error=None if status == 200 else "failed",
    )


def binary_log(
    store: Store, n: int, hours: int, seed: int = 0, *, version: int = 1
) -> pd.DataFrame:
    """``n`` one-row requests over ``hours`` hours, calibrated scores, labels ~ Bernoulli(p);
    plus a shadow answer and a failed request an hour that must not count."""
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 2, size=n)
    truth = (rng.random(n) < p).astype(np.int64)
    times = [T0 + timedelta(seconds=float(s)) for s in np.sort(rng.uniform(0, hours * 3600, n))]
    ids = [f"v{version}-r{i}" for i in range(n)]
    records = [
        record(
            rid,
            when,
            {"predict": np.array([int(q >= 0.5)]), "probability": np.array([q])},
            version=version,
        )
        for rid, when, q in zip(ids, times, p, strict=True)
    ]
    for hour in range(hours):
        when = T0 + timedelta(hours=hour, minutes=30)
        shadow = {"predict": np.array([1]), "probability": np.array([0.9])}
        records.append(record(ids[0], when, shadow, version=version, route="shadow"))
        records.append(record(f"failed-{hour}", when, None, version=version, status=422))
    write_log(store.logs, records)
    return pd.DataFrame(
        {
            "request_id": ids,
            "time": times,
            "p": p,
            "label": truth,
            "predict": (p >= 0.5).astype(np.int64),
            "version": version,
        }
    )


def numbered(labels: Any) -> pd.DataFrame:
    """Labels for requests r0, r1, ..."""
    return pd.DataFrame({"request_id": [f"r{i}" for i in range(len(labels))], "label": labels})


def hour_of(times: pd.Series) -> pd.Series:
    return pd.to_datetime(times, utc=True).dt.floor("h")


def test_realised_metrics_match_sklearn_with_late_duplicate_and_unknown_labels(
    store: Store,
) -> None:
    truth = binary_log(store, 600, hours=4)
    rng = np.random.default_rng(1)
    labelled = truth[rng.random(len(truth)) < 0.7].reset_index(drop=True)
    t_label = T0 + timedelta(days=1)
    # A first, wrong label for a third of the keys; then the right one, later in label time.
    wrong = labelled.iloc[::3].assign(label=lambda f: 1 - f["label"])
    first = ingest_labels(
        store.labels,
        DEPLOYMENT,
        pd.DataFrame(
            {
                "request_id": wrong["request_id"],
                "label": wrong["label"],
                "label_time": t_label.isoformat(),
            }
        ),
    )
    assert first.stored == len(wrong)
    assert first.duplicates == 0
    assert first.unknown == 0
    batch = pd.DataFrame(
        {
            "request_id": labelled["request_id"],
            "row": 0,
            "label": labelled["label"],
            "label_time": (t_label + timedelta(hours=1)).isoformat(),
        }
    )
    unknown = pd.DataFrame(
        {
            "request_id": ["nope-1", "nope-2"],
            "row": 0,
            "label": 1,
            "label_time": t_label.isoformat(),
        }
    )
    report = ingest_labels(store.labels, DEPLOYMENT, pd.concat([batch, unknown]))
    assert report.received == len(labelled) + 2
    assert report.duplicates == len(wrong)
    assert report.out_of_order == 0
    assert report.unknown == 2
    assert report.unknown_request_ids == ["nope-1", "nope-2"]
    # Arriving last but labelled earlier: out of order, must not win.
    stale = ingest_labels(
        store.labels,
        DEPLOYMENT,
        pd.DataFrame(
            {
                "request_id": wrong["request_id"],
                "label": wrong["label"],
                "label_time": (t_label - timedelta(hours=1)).isoformat(),
            }
        ),
    )
    assert stale.duplicates == stale.out_of_order == len(wrong)
    # The very same file again changes nothing.
    again = ingest_labels(store.labels, DEPLOYMENT, pd.concat([batch, unknown]))
    assert again.stored == 0
    assert again.unchanged == again.received
    assert again.path is None

    result = compute_performance(store.logs, store.labels, DEPLOYMENT, window="1h")

    assert result.task == "classification"
    assert result.prediction == "out_predict"
    assert result.score == "out_probability"
    assert result.positive_class == "1"
    assert [w.window_start for w in result.windows] == [T0 + timedelta(hours=h) for h in range(4)]
    truth["hour"], labelled["hour"] = hour_of(truth["time"]), hour_of(labelled["time"])
    for window in result.windows:
        start = pd.Timestamp(window.window_start)
        part = labelled[labelled["hour"] == start]
        assert window.version == 1
        assert window.window_end - window.window_start == timedelta(hours=1)
        assert window.predictions == int((truth["hour"] == start).sum())
        assert window.labelled == len(part)
        assert window.coverage == pytest.approx(len(part) / window.predictions)
        y, y_hat = part["label"], part["predict"]
        expected = {
            "accuracy": accuracy_score(y, y_hat),
            "precision": precision_score(y, y_hat),
            "recall": recall_score(y, y_hat),
            "f1": f1_score(y, y_hat),
            "roc_auc": roc_auc_score(y, part["p"]),
        }
        assert window.metrics == pytest.approx(expected)
        assert set(window.estimated) == set(expected)


def test_cbpe_estimates_are_close_to_realised_on_calibrated_scores(store: Store) -> None:
    truth = binary_log(store, 6000, hours=2, seed=3)
    ingest_labels(store.labels, DEPLOYMENT, truth[["request_id", "label"]])

    result = compute_performance(store.logs, store.labels, DEPLOYMENT, window="1h")

    assert result.calibration.startswith("none: scores assumed calibrated")
    assert len(result.windows) == 2
    for window in result.windows:
        assert window.coverage == 1.0
        for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
            realised, estimated = window.metrics[name], window.estimated[name]
            assert realised is not None
            assert estimated is not None
            assert estimated == pytest.approx(realised, abs=0.03), name


def test_estimates_need_no_labels_and_match_the_closed_form(store: Store) -> None:
    truth = binary_log(store, 500, hours=1, seed=4)

    result = estimate_performance(store.logs, DEPLOYMENT, window="1d")

    (window,) = result.windows
    assert window.labelled == 0
    assert window.coverage == 0.0
    assert window.metrics["accuracy"] is None
    assert window.reasons["accuracy"] == "no labelled predictions in this window"
    p = truth["p"].to_numpy()
    assert window.estimated["accuracy"] == pytest.approx(np.mean(np.maximum(p, 1 - p)))
    hat = p >= 0.5
    tp, fp, fn = (p * hat).sum(), ((1 - p) * hat).sum(), (p * ~hat).sum()
    assert window.estimated["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))


def test_isotonic_calibration_on_a_reference_set_corrects_skewed_scores(store: Store) -> None:
    rng = np.random.default_rng(5)
    n = 4000
    p = rng.beta(2, 2, size=n)
    score = p**3  # ranks like p, but far from calibrated
    times = [T0 + timedelta(seconds=i) for i in range(n)]
    write_log(
        store.logs,
        [
            record(
                f"r{i}",
                when,
                {"predict": np.array([int(p[i] >= 0.5)]), "probability": np.array([score[i]])},
            )
            for i, when in enumerate(times)
        ],
    )
    labels = (rng.random(n) < p).astype(int)
    ingest_labels(store.labels, DEPLOYMENT, numbered(labels))
    ref_p = rng.beta(2, 2, size=3000)
    reference = pd.DataFrame({"score": ref_p**3, "label": (rng.random(3000) < ref_p).astype(int)})

    naive = compute_performance(store.logs, store.labels, DEPLOYMENT, window="1d")
    fitted = compute_performance(
        store.logs, store.labels, DEPLOYMENT, window="1d", reference=reference
    )

    assert fitted.calibration == "isotonic, fitted on 3000 reference rows"
    assert fitted.reference_calibration_error is not None
    assert fitted.reference_calibration_error > 0.1
    (raw,), (calibrated,) = naive.windows, fitted.windows
    realised = calibrated.metrics["precision"]
    assert realised is not None
    assert abs((raw.estimated["precision"] or 0.0) - realised) > 0.15
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        expected = calibrated.metrics[name]
        assert calibrated.estimated[name] == pytest.approx(expected, abs=0.03), name


def test_regression_mae_and_rmse_per_version(store: Store) -> None:
    rng = np.random.default_rng(6)
    rows = []
    for version in (1, 2):
        for i in range(50):
            # Two rows a request: the label of row 1 is its own.
            y_hat = rng.normal(size=2)
            rows.append((f"v{version}-{i}", version, T0 + timedelta(minutes=i), y_hat))
    write_log(
        store.logs,
        [
            record(rid, when, {"prediction": y_hat}, version=version)
            for rid, version, when, y_hat in rows
        ],
    )
    truth = pd.DataFrame(
        [
            (rid, row, version, y_hat[row], y_hat[row] + rng.normal())
            for rid, version, _, y_hat in rows
            for row in (0, 1)
        ],
        columns=["request_id", "row", "version", "prediction", "label"],
    )
    ingest_labels(store.labels, DEPLOYMENT, truth[["request_id", "row", "label"]])

    result = compute_performance(store.logs, store.labels, DEPLOYMENT, window="1d")

    assert result.task == "regression"
    assert result.calibration.startswith("no estimate")
    assert [w.version for w in result.windows] == [1, 2]
    for window in result.windows:
        part = truth[truth["version"] == window.version]
        assert window.predictions == window.labelled == 100
        assert window.metrics == pytest.approx(
            {
                "mae": mean_absolute_error(part["label"], part["prediction"]),
                "rmse": np.sqrt(mean_squared_error(part["label"], part["prediction"])),
            }
        )
        assert window.estimated == {}


def test_multiclass_string_labels_give_macro_f1_and_explain_missing_auc(store: Store) -> None:
    rng = np.random.default_rng(7)
    classes = np.array(["cat", "dog", "eel"])
    predicted = rng.choice(classes, size=90)
    actual = np.where(rng.random(90) < 0.7, predicted, rng.choice(classes, size=90))
    write_log(
        store.logs,
        [
            record(f"r{i}", T0 + timedelta(minutes=i), {"label": np.array([c])})
            for i, c in enumerate(predicted)
        ],
    )
    ingest_labels(store.labels, DEPLOYMENT, numbered(actual))

    result = compute_performance(store.logs, store.labels, DEPLOYMENT, every_n=30)

    assert result.task == "classification"
    assert result.classes == ["cat", "dog", "eel"]
    assert [w.predictions for w in result.windows] == [30, 30, 30]
    for k, window in enumerate(result.windows):
        part = slice(30 * k, 30 * (k + 1))
        assert window.window_start == T0 + timedelta(minutes=30 * k)
        assert window.window_end == T0 + timedelta(minutes=30 * k + 29)
        assert window.metrics["accuracy"] == pytest.approx(
            accuracy_score(actual[part], predicted[part])
        )
        assert window.metrics["f1"] == pytest.approx(
            f1_score(actual[part], predicted[part], average="macro")
        )
        assert window.metrics["roc_auc"] is None
        assert "multiclass" in window.reasons["roc_auc"]
    assert "binary classifiers only" in result.calibration


def test_without_a_score_column_auc_is_none_with_a_reason(store: Store) -> None:
    write_log(
        store.logs,
        [
            record(f"r{i}", T0 + timedelta(minutes=i), {"predict": np.array([i % 2 == 0])})
            for i in range(20)
        ],
    )
    # Labels as strings ("true"/"false") still match boolean predictions.
    labels = ["true" if i % 3 else "false" for i in range(20)]
    ingest_labels(store.labels, DEPLOYMENT, numbered(labels))

    result = compute_performance(store.logs, store.labels, DEPLOYMENT, window="1d")

    (window,) = result.windows
    predicted = [i % 2 == 0 for i in range(20)]
    actual = [bool(i % 3) for i in range(20)]
    assert window.metrics["accuracy"] == pytest.approx(accuracy_score(actual, predicted))
    assert window.metrics["f1"] == pytest.approx(f1_score(actual, predicted))
    assert window.metrics["roc_auc"] is None
    assert "no score column" in window.reasons["roc_auc"]
    assert result.calibration.startswith("no estimate: the log has no score column")


def test_nothing_logged_gives_an_empty_report_and_bad_arguments_are_refused(
    store: Store,
) -> None:
    empty = compute_performance(store.logs, store.labels, DEPLOYMENT)
    assert empty.windows == []
    assert empty.task is None
    binary_log(store, 10, hours=1)
    with pytest.raises(InvalidInput, match="out_nope"):
        compute_performance(store.logs, store.labels, DEPLOYMENT, prediction="nope")
    with pytest.raises(InvalidInput, match="invalid window"):
        compute_performance(store.logs, store.labels, DEPLOYMENT, window="1 hour")
    with pytest.raises(InvalidInput, match="every_n"):
        compute_performance(store.logs, store.labels, DEPLOYMENT, every_n=0)
    with pytest.raises(InvalidInput, match="invalid deployment"):
        compute_performance(store.logs, store.labels, "../etc")


def test_report_is_deterministic_and_serialisable(store: Store) -> None:
    binary_log(store, 200, hours=3, seed=8)
    first = compute_performance(store.logs, store.labels, DEPLOYMENT, window="30m")
    second = compute_performance(store.logs, store.labels, DEPLOYMENT, window="30m")
    assert first == second
    later = compute_performance(
        store.logs,
        store.labels,
        DEPLOYMENT,
        window="1h",
        since=T0 + timedelta(hours=1),
        until=T0 + timedelta(hours=2),
    )
    assert [w.window_start for w in later.windows] == [T0 + timedelta(hours=1)]
    doc = first.as_dict()
    assert doc["windows"][0]["window_start"] == "2026-01-01T00:00:00+00:00"
    assert doc["windows"][0]["metrics"]["accuracy"] is None
