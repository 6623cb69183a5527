"""Drift for image inputs: image properties and detections, read from a detector's log.

A served detector logs no pixels, only what describes them (see ``slipway.serving.images``):
per image ``out_width``, ``out_height``, ``out_brightness`` (mean luma), ``out_contrast`` (luma
standard deviation), ``out_num_detections``, ``out_detections`` (JSON) and ``in_image_bytes``.
This module turns those columns into two tables and tests them with the ordinary drift tests
(:func:`~slipway.monitoring.drift.column_drift`):

- **per image**: ``brightness``, ``contrast``, ``width``, ``height``, ``pixels``, ``aspect``
  (width / height), ``image_bytes`` and ``detections`` (how many per image);
- **per detection**: ``score`` and ``label`` (the score distribution and the label mix).

The reference is a span of the same log chosen by the user (``reference_since`` /
``reference_until``: e.g. the first day after a release, which someone looked at); each window
of the log after it is compared with it. A per-detection column is tested only when both sides
have detections; otherwise it is listed as skipped, with the reason (the fall in
``detections`` per image already says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from slipway.core.errors import InvalidInput
from slipway.monitoring.drift import ColumnDrift, DatasetDrift, DriftOptions, column_drift
from slipway.monitoring.windows import Window, windows

IMAGE_COLUMNS = (
    "brightness",
    "contrast",
    "width",
    "height",
    "pixels",
    "aspect",
    "image_bytes",
    "detections",
)
DETECTION_COLUMNS = ("score", "label")
_KINDS = {**dict.fromkeys(IMAGE_COLUMNS, "numerical"), "score": "numerical", "label": "categorical"}
SUMMARY_COLUMNS = ("brightness", "contrast", "pixels", "aspect", "detections", "score")
"""The properties shown side by side (reference mean, current mean) in reports."""
_NEEDED = ("out_width", "out_height", "out_brightness", "out_contrast", "out_num_detections")


def image_properties(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per logged image: the properties tested for drift (:data:`IMAGE_COLUMNS`).

    ``frame`` is a window's frame (:attr:`~slipway.monitoring.windows.Window.frame`) or any
    frame with the detector's ``out_*`` columns; ``image_bytes`` is NaN where not logged.
    """
    missing = [c for c in _NEEDED if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"the log has no {', '.join(missing)}: is this a detector's prediction log "
            "(flavor 'detector')?"
        )
    width = frame["out_width"].to_numpy(dtype=np.float64)
    height = frame["out_height"].to_numpy(dtype=np.float64)
    image_bytes = (
        frame["image_bytes"].to_numpy(dtype=np.float64)
        if "image_bytes" in frame.columns
        else np.full(len(frame), np.nan)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        aspect = np.where(height > 0, width / height, np.nan)
    return pd.DataFrame(
        {
            "brightness": frame["out_brightness"].to_numpy(dtype=np.float64),
            "contrast": frame["out_contrast"].to_numpy(dtype=np.float64),
            "width": width,
            "height": height,
            "pixels": width * height,
            "aspect": aspect,
            "image_bytes": image_bytes,
            "detections": frame["out_num_detections"].to_numpy(dtype=np.float64),
        }
    )


def detection_properties(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per logged detection: ``score`` and ``label`` (empty when there are none)."""
    scores: list[float] = []
    labels: list[str] = []
    if "out_detections" in frame.columns:
        for text in frame["out_detections"]:
            if not isinstance(text, str) or not text:
                continue
            for detection in orjson.loads(text):
                scores.append(float(detection["score"]))
                labels.append(str(detection["label"]))
    return pd.DataFrame(
        {"score": np.asarray(scores, dtype=np.float64), "label": pd.Series(labels, dtype=object)}
    )


@dataclass(frozen=True, slots=True)
class ImageSample:
    """The images (and their detections) of one span of the log."""

    images: pd.DataFrame
    detections: pd.DataFrame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> ImageSample:
        return cls(image_properties(frame), detection_properties(frame))

    def means(self) -> dict[str, float]:
        """Mean of every image property, plus the mean detection score (NaN without any)."""
        found = {c: _mean(self.images[c]) for c in IMAGE_COLUMNS}
        found["score"] = _mean(self.detections["score"])
        return found

    def label_shares(self) -> dict[str, float]:
        """Each label's share of the detections."""
        counts = self.detections["label"].value_counts()
        total = int(counts.sum())
        return {str(k): int(v) / total for k, v in counts.items()} if total else {}


def _mean(series: pd.Series) -> float:
    values = series.to_numpy(dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")


@dataclass(frozen=True, slots=True)
class ImageDrift:
    """The verdict for one current sample against the reference."""

    columns: list[ColumnDrift]
    """Every tested column, image properties first, then ``score`` and ``label``."""
    skipped: dict[str, str]
    """Columns not tested, with the reason (no values on one side)."""
    share_drifted: float
    drifted: bool
    reference_means: dict[str, float]
    current_means: dict[str, float]
    reference_labels: dict[str, float]
    current_labels: dict[str, float]

    def column(self, name: str) -> ColumnDrift | None:
        """The result for ``name``, or None when it was skipped."""
        return next((c for c in self.columns if c.column == name), None)

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    def as_dataset(self) -> DatasetDrift:
        return DatasetDrift(
            columns=self.columns, share_drifted=self.share_drifted, drifted=self.drifted
        )


def image_drift(
    reference: ImageSample, current: ImageSample, options: DriftOptions | None = None
) -> ImageDrift:
    """Test every image and detection property of ``current`` against ``reference``.

    ``options`` chooses tests and thresholds as for tabular drift (its ``kinds`` and
    ``columns`` are set here); ``drift_share`` applies to the tested columns.
    """
    options = options or DriftOptions()
    results: list[ColumnDrift] = []
    skipped: dict[str, str] = {}
    for ref, cur, names in (
        (reference.images, current.images, IMAGE_COLUMNS),
        (reference.detections, current.detections, DETECTION_COLUMNS),
    ):
        testable = []
        for name in names:
            reason = _untestable(ref[name], "reference") or _untestable(cur[name], "current")
            if reason:
                skipped[name] = reason
            else:
                testable.append(name)
        if testable:
            chosen = options.model_copy(
                update={"columns": testable, "kinds": {**_KINDS, **options.kinds}}
            )
            results += column_drift(ref[testable], cur[testable], chosen, workers=1)
    share = sum(r.drifted for r in results) / len(results) if results else 0.0
    return ImageDrift(
        columns=results,
        skipped=skipped,
        share_drifted=share,
        drifted=bool(results) and share >= options.drift_share,
        reference_means=reference.means(),
        current_means=current.means(),
        reference_labels=reference.label_shares(),
        current_labels=current.label_shares(),
    )


def _untestable(series: pd.Series, role: str) -> str | None:
    if series.dtype == object:
        present = series.notna().any()
    else:
        present = np.isfinite(series.to_numpy(dtype=np.float64)).any()
    if not present:
        return f"no values in the {role} sample" + (
            " (no detections)" if series.name in DETECTION_COLUMNS else ""
        )
    return None


@dataclass(frozen=True, slots=True)
class ImageWindowDrift:
    start: datetime
    end: datetime
    version: int
    images: int
    drift: ImageDrift

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN means as null): a window of ``slipway monitor images --json``."""
        drift = self.drift
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "version": self.version,
            "images": self.images,
            "drifted": drift.drifted,
            "share_drifted": drift.share_drifted,
            "drifted_columns": drift.drifted_columns,
            "columns": [c.model_dump(mode="json") for c in drift.columns],
            "skipped": drift.skipped,
            "reference_means": _finite(drift.reference_means),
            "current_means": _finite(drift.current_means),
            "reference_labels": drift.reference_labels,
            "current_labels": drift.current_labels,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ImageWindowDrift:
        """The inverse of :meth:`as_dict` (also reads a window of the API's answer)."""
        drift = ImageDrift(
            columns=[ColumnDrift.model_validate(c) for c in doc["columns"]],
            skipped=dict(doc["skipped"]),
            share_drifted=float(doc["share_drifted"]),
            drifted=bool(doc["drifted"]),
            reference_means=_floats(doc["reference_means"]),
            current_means=_floats(doc["current_means"]),
            reference_labels=dict(doc["reference_labels"]),
            current_labels=dict(doc["current_labels"]),
        )
        return cls(
            start=datetime.fromisoformat(doc["start"]),
            end=datetime.fromisoformat(doc["end"]),
            version=doc["version"],
            images=doc["images"],
            drift=drift,
        )


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {k: v if v == v else None for k, v in values.items()}


def _floats(values: dict[str, float | None]) -> dict[str, float]:
    return {k: float("nan") if v is None else float(v) for k, v in values.items()}


@dataclass(frozen=True, slots=True)
class ImageDriftReport:
    """The reference span and every later window compared with it, oldest first."""

    deployment: str
    reference_since: datetime | None
    reference_until: datetime
    reference_images: int
    reference_detections: int
    windows: list[ImageWindowDrift] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``slipway monitor images --json`` prints."""
        return {
            "deployment": self.deployment,
            "reference_since": None
            if self.reference_since is None
            else self.reference_since.isoformat(),
            "reference_until": self.reference_until.isoformat(),
            "reference_images": self.reference_images,
            "reference_detections": self.reference_detections,
            "windows": [w.as_dict() for w in self.windows],
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ImageDriftReport:
        """The inverse of :meth:`as_dict`; the API's answer (windows under ``items``) too."""
        since = doc.get("reference_since")
        found = doc["windows"] if "windows" in doc else doc.get("items", [])
        return cls(
            deployment=doc["deployment"],
            reference_since=None if since is None else datetime.fromisoformat(since),
            reference_until=datetime.fromisoformat(doc["reference_until"]),
            reference_images=doc["reference_images"],
            reference_detections=doc["reference_detections"],
            windows=[ImageWindowDrift.from_dict(w) for w in found],
        )


def image_drift_over_time(
    log_root: Path,
    deployment: str,
    *,
    reference_until: datetime,
    reference_since: datetime | None = None,
    window: str = "1h",
    every_n: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    version: int | None = None,
    options: DriftOptions | None = None,
) -> ImageDriftReport:
    """Image drift of each window of ``deployment``'s log against a reference span of it.

    The reference is every served image logged in ``[reference_since, reference_until)``
    (all versions unless ``version``); the windows compared start at ``since``, by default
    ``reference_until``, so the reference is never compared with itself.
    """
    if reference_since is not None and reference_since >= reference_until:
        raise InvalidInput("reference_since must be before reference_until")
    # One window per version holding the whole span (a count no span reaches).
    parts = list(
        windows(
            log_root,
            deployment,
            every_n=1_000_000_000,
            version=version,
            since=reference_since,
            until=reference_until,
        )
    )
    if not parts:
        raise InvalidInput(
            f"no served predictions of {deployment!r} in the reference span "
            f"({_span(reference_since, reference_until)})"
        )
    reference = ImageSample.from_frame(pd.concat([p.frame for p in parts], ignore_index=True))
    report = ImageDriftReport(
        deployment,
        reference_since,
        reference_until,
        len(reference.images),
        len(reference.detections),
    )
    for part in windows(
        log_root,
        deployment,
        window=None if every_n else window,
        every_n=every_n,
        version=version,
        since=since or reference_until,
        until=until,
    ):
        report.windows.append(_window(reference, part, options))
    return report


def _window(reference: ImageSample, part: Window, options: DriftOptions | None) -> ImageWindowDrift:
    current = ImageSample.from_frame(part.frame)
    return ImageWindowDrift(
        part.start, part.end, part.version, part.rows, image_drift(reference, current, options)
    )


def _span(since: datetime | None, until: datetime) -> str:
    start = "the start of the log" if since is None else since.isoformat()
    return f"{start} to {until.isoformat()}"
