"""Weighted non-maximum suppression, as MediaPipe's ``NonMaxSuppressionCalculator`` does it.

Plain NMS keeps the best box of each cluster; the *weighted* variant that MediaPipe's
detectors are configured with replaces it by the score-weighted mean of every box (and
keypoint) that overlaps it by more than the threshold, which steadies boxes across frames.
The kept detection keeps the best box's score.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from slipway.flavors.detection.decode import Candidates

Array = np.ndarray[Any, Any]


def iou(box: Array, boxes: Array) -> Array:
    """Intersection over union of one ``(x1, y1, x2, y2)`` box with each of ``boxes``."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(
    candidates: Candidates, *, threshold: float, max_detections: int | None = None
) -> Candidates:
    """Clusters of boxes overlapping the best remaining one by IoU > ``threshold``, merged.

    Returns at most ``max_detections`` detections, best first.
    """
    order = np.argsort(-candidates.scores, kind="stable")
    boxes, points, scores = (
        candidates.boxes[order],
        candidates.keypoints[order],
        candidates.scores[order],
    )
    kept_boxes: list[Array] = []
    kept_points: list[Array] = []
    kept_scores: list[float] = []
    remaining = np.arange(len(scores))
    while remaining.size and (max_detections is None or len(kept_scores) < max_detections):
        best = remaining[0]
        overlaps = iou(boxes[best], boxes[remaining]) > threshold
        overlaps[0] = True  # a degenerate (zero-area) best box still forms its own cluster
        cluster = remaining[overlaps]
        weights = scores[cluster][:, None]
        total = float(weights.sum())
        kept_boxes.append((boxes[cluster] * weights).sum(axis=0) / total)
        kept_points.append((points[cluster] * weights[:, :, None]).sum(axis=0) / total)
        kept_scores.append(float(scores[best]))
        remaining = remaining[~overlaps]
    if not kept_scores:
        return Candidates(
            np.zeros((0, 4), np.float32),
            np.zeros((0, *candidates.keypoints.shape[1:]), np.float32),
            np.zeros(0, np.float32),
        )
    return Candidates(
        np.asarray(kept_boxes, np.float32),
        np.asarray(kept_points, np.float32),
        np.asarray(kept_scores, np.float32),
    )
