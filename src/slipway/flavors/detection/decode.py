"""Raw SSD outputs to boxes, keypoints and scores (MediaPipe's ``TensorsToDetections``).

The models regress each anchor's box as ``(dx, dy, w, h)`` (``reverse_output_order``: x
before y) followed by keypoints ``(kx, ky)``, all divided by a scale; scores are logits,
clipped to ``±score_clipping_thresh`` and passed through a sigmoid. Everything is vectorised
over the anchors; only candidates above ``min_score`` leave this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """The ``TensorsToDetectionsCalculatorOptions`` fields these detectors use."""

    num_coords: int
    num_keypoints: int
    scale: float
    """``x_scale`` = ``y_scale`` = ``w_scale`` = ``h_scale`` (the input size) in every model."""
    min_score: float
    score_clipping_thresh: float = 100.0
    box_coord_offset: int = 0
    keypoint_coord_offset: int = 4


@dataclass(frozen=True, slots=True)
class Candidates:
    """Decoded detections of one image, before non-maximum suppression.

    ``boxes`` are ``(x1, y1, x2, y2)`` and ``keypoints`` ``(k, 2)`` per box, both normalised to
    the model input; ``scores`` are probabilities.
    """

    boxes: Array
    keypoints: Array
    scores: Array

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def sigmoid_scores(raw: Array, clip: float) -> Array:
    """Logits to probabilities, clipped first as MediaPipe does (no overflow in exp)."""
    # float64: exp(100) overflows float32 (MediaPipe gets inf there, and 0 as the score).
    clipped = np.clip(raw.astype(np.float64, copy=False), -clip, clip)
    return (1.0 / (1.0 + np.exp(-clipped))).astype(np.float32)


def decode(
    raw_boxes: Array, raw_scores: Array, anchors: Array, options: DecodeOptions
) -> Candidates:
    """One image's ``(N, num_coords)`` regressions and ``(N,)``/``(N, 1)`` logits to candidates."""
    if raw_boxes.shape != (anchors.shape[0], options.num_coords):
        raise ValueError(
            f"model output has shape {list(raw_boxes.shape)}, expected "
            f"[{anchors.shape[0]}, {options.num_coords}] for its anchors"
        )
    scores = sigmoid_scores(raw_scores.reshape(-1), options.score_clipping_thresh)
    keep = np.flatnonzero(scores >= options.min_score)
    raw, anchor = raw_boxes[keep], anchors[keep]
    scale, offset = options.scale, options.box_coord_offset
    ax, ay, aw, ah = anchor[:, 0], anchor[:, 1], anchor[:, 2], anchor[:, 3]
    cx = raw[:, offset] / scale * aw + ax
    cy = raw[:, offset + 1] / scale * ah + ay
    w = raw[:, offset + 2] / scale * aw
    h = raw[:, offset + 3] / scale * ah
    boxes = np.column_stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    start = options.keypoint_coord_offset
    points = raw[:, start : start + 2 * options.num_keypoints].reshape(
        len(keep), options.num_keypoints, 2
    )
    keypoints = points / scale * np.stack([aw, ah], axis=1)[:, None, :] + anchor[:, None, :2]
    return Candidates(boxes.astype(np.float32), keypoints.astype(np.float32), scores[keep])
