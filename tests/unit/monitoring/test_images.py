"""Image drift from a detector's log: properties, the tests chosen, skipped columns, windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slipway.core.errors import InvalidInput
from slipway.monitoring.images import (
    IMAGE_COLUMNS,
    ImageSample,
    detection_properties,
    image_drift,
    image_drift_over_time,
    image_properties,
)
from slipway.serving.predlog import PredictionLog, PredictionRecord

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def detector_frame(
    n: int,
    *,
    brightness: float,
    width: int = 512,
    height: int = 512,
    faces: int = 1,
    score: float = 0.9,
    seed: int = 0,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    detections = [
        json.dumps(
            [
                {"label": "face", "score": float(score - rng.uniform(0, 0.05)), "box": [0, 0, 9, 9]}
                for _ in range(faces)
            ]
        )
        for _ in range(n)
    ]
    return pd.DataFrame(
        {
            "image_bytes": rng.integers(50_000, 60_000, n),
            "out_width": np.full(n, width, dtype=np.int32),
            "out_height": np.full(n, height, dtype=np.int32),
            "out_brightness": rng.normal(brightness, 5, n).astype(np.float32),
            "out_contrast": rng.normal(60, 5, n).astype(np.float32),
            "out_num_detections": np.full(n, faces, dtype=np.int32),
            "out_detections": detections,
        }
    )


def test_properties_per_image_and_per_detection() -> None:
    frame = detector_frame(3, brightness=120, width=400, height=200, faces=2)
    images = image_properties(frame)
    assert list(images.columns) == list(IMAGE_COLUMNS)
    assert images["aspect"].tolist() == [2.0] * 3
    assert images["pixels"].tolist() == [80_000.0] * 3
    assert images["detections"].tolist() == [2.0] * 3
    found = detection_properties(frame)
    assert len(found) == 6
    assert set(found["label"]) == {"face"}


def test_a_log_that_is_not_a_detectors_is_refused() -> None:
    with pytest.raises(InvalidInput, match="detector"):
        image_properties(pd.DataFrame({"out_label": [1, 0]}))


def test_same_images_do_not_drift_and_dark_ones_do() -> None:
    reference = ImageSample.from_frame(detector_frame(200, brightness=140, seed=1))
    same = image_drift(reference, ImageSample.from_frame(detector_frame(200, brightness=140)))
    assert not same.drifted
    assert same.drifted_columns == []
    dark = ImageSample.from_frame(
        detector_frame(200, brightness=40, width=256, height=256, faces=0, seed=2)
    )
    result = image_drift(reference, dark)
    assert result.drifted
    assert {"brightness", "width", "height", "pixels", "detections"} <= set(result.drifted_columns)
    assert "contrast" not in result.drifted_columns
    # No detection in the current sample: score and label cannot be tested, and say why.
    assert set(result.skipped) == {"score", "label"}
    assert "no detections" in result.skipped["score"]
    assert result.column("score") is None
    assert result.reference_means["detections"] == 1.0
    assert result.current_means["detections"] == 0.0
    assert result.current_labels == {}
    assert result.reference_labels == {"face": 1.0}


def test_score_and_label_mix_are_tested_per_detection() -> None:
    reference = ImageSample.from_frame(detector_frame(100, brightness=140, score=0.95))
    lower = detector_frame(100, brightness=140, score=0.6, seed=3)
    hands = lower.copy()
    hands["out_detections"] = [d.replace('"face"', '"hand"') for d in lower["out_detections"]]
    result = image_drift(reference, ImageSample.from_frame(pd.concat([lower, hands])))
    score, label = result.column("score"), result.column("label")
    assert score is not None
    assert score.drifted
    assert score.kind == "numerical"
    assert label is not None
    assert label.drifted
    assert label.kind == "categorical"
    assert result.current_labels == {"face": 0.5, "hand": 0.5}


def _write_log(root: Path, frame: pd.DataFrame, start: datetime) -> None:
    log = PredictionLog(root)
    log.start()
    for i, row in enumerate(frame.itertuples(index=False)):
        record = row._asdict()
        log.submit(
            PredictionRecord(
                request_id=f"{start:%H%M}-{i}",
                time_ms=int((start + timedelta(seconds=10 * i)).timestamp() * 1000),
                deployment="detector",
                model_name="detector",
                model_version=1,
                route="champion",
                latency_ms=5.0,
                status=200,
                inputs={"image_bytes": [record.pop("image_bytes")]},
                outputs={k.removeprefix("out_"): [v] for k, v in record.items()},
            )
        )
    log.close()


def test_windows_after_the_reference_span_are_compared_with_it(tmp_path: Path) -> None:
    _write_log(tmp_path, detector_frame(60, brightness=150, seed=4), T0)
    later = T0 + timedelta(hours=1)
    _write_log(tmp_path, detector_frame(60, brightness=50, faces=0, seed=5), later)
    report = image_drift_over_time(tmp_path, "detector", reference_until=later, window="1h")
    assert report.reference_images == 60
    assert report.reference_detections == 60
    (window,) = report.windows
    assert window.start == later
    assert window.images == 60
    assert {"brightness", "detections"} <= set(window.drift.drifted_columns)
    with pytest.raises(InvalidInput, match="no served predictions"):
        image_drift_over_time(tmp_path, "detector", reference_until=T0)
    with pytest.raises(InvalidInput, match="before"):
        image_drift_over_time(tmp_path, "detector", reference_since=later, reference_until=T0)
