from __future__ import annotations

import numpy as np

from slipway.flavors.detection.decode import Candidates
from slipway.flavors.detection.nms import iou, weighted_nms


def candidates(boxes: list[list[float]], scores: list[float]) -> Candidates:
    b = np.asarray(boxes, np.float32)
    points = np.stack([b[:, :2], b[:, 2:]], axis=1)  # corners as two "keypoints"
    return Candidates(b, points, np.asarray(scores, np.float32))


def test_iou() -> None:
    boxes = np.array([[0, 0, 2, 2], [1, 1, 3, 3], [5, 5, 6, 6], [0, 0, 2, 2]], np.float32)
    np.testing.assert_allclose(iou(boxes[0], boxes), [1.0, 1 / 7, 0.0, 1.0], rtol=1e-6)


def test_overlapping_boxes_merge_weighted_by_score_and_keep_the_best_score() -> None:
    found = weighted_nms(
        candidates([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], [0.6, 0.9, 0.7]),
        threshold=0.3,
    )
    np.testing.assert_allclose(found.scores, [0.9, 0.7])
    expected = (np.array([0, 0, 10, 10]) * 0.6 + np.array([1, 1, 11, 11]) * 0.9) / 1.5
    np.testing.assert_allclose(found.boxes[0], expected, rtol=1e-6)
    np.testing.assert_allclose(found.keypoints[0].ravel(), expected, rtol=1e-6)
    np.testing.assert_allclose(found.boxes[1], [50, 50, 60, 60])


def test_boxes_below_the_threshold_stay_apart() -> None:
    found = weighted_nms(candidates([[0, 0, 10, 10], [6, 6, 16, 16]], [0.9, 0.8]), threshold=0.3)
    assert len(found) == 2  # IoU 16/184


def test_max_detections_and_empty_input() -> None:
    many = candidates([[i * 20, 0, i * 20 + 10, 10] for i in range(5)], [0.1, 0.5, 0.9, 0.3, 0.7])
    found = weighted_nms(many, threshold=0.3, max_detections=2)
    np.testing.assert_allclose(found.scores, [0.9, 0.7])
    none = Candidates(
        np.zeros((0, 4), np.float32), np.zeros((0, 2, 2), np.float32), np.zeros(0, np.float32)
    )
    empty = weighted_nms(none, threshold=0.3)
    assert len(empty) == 0
    assert empty.keypoints.shape == (0, 2, 2)


def test_a_zero_area_box_does_not_loop_forever() -> None:
    found = weighted_nms(candidates([[3, 3, 3, 3], [3, 3, 3, 3]], [0.9, 0.8]), threshold=0.3)
    assert len(found) == 2
