from __future__ import annotations

import numpy as np
import pytest

from slipway.flavors.detection.decode import DecodeOptions, decode, sigmoid_scores


def test_sigmoid_clips_without_overflow() -> None:
    with np.errstate(over="raise"):
        scores = sigmoid_scores(np.array([-1e4, 0.0, 1e4], np.float32), 100.0)
    np.testing.assert_allclose(scores, [0.0, 0.5, 1.0], atol=1e-6)


def test_decode_offsets_from_anchor_centres() -> None:
    anchors = np.array([[0.5, 0.5, 1, 1], [0.25, 0.25, 1, 1]], np.float32)
    options = DecodeOptions(num_coords=6, num_keypoints=1, scale=100.0, min_score=0.5)
    raw = np.array([[10, -10, 20, 40, 5, 5], [0, 0, 10, 10, 0, 0]], np.float32)
    found = decode(raw, np.array([3.0, -3.0]), anchors, options)
    assert len(found) == 1  # the second anchor's score is sigmoid(-3) < 0.5
    np.testing.assert_allclose(found.boxes[0], [0.5, 0.2, 0.7, 0.6], rtol=1e-6)
    np.testing.assert_allclose(found.keypoints[0], [[0.55, 0.55]], rtol=1e-6)


def test_decode_refuses_outputs_that_do_not_fit_the_anchors() -> None:
    options = DecodeOptions(num_coords=4, num_keypoints=0, scale=1.0, min_score=0.5)
    with pytest.raises(ValueError, match="expected \\[1, 4\\]"):
        decode(np.zeros((2, 4)), np.zeros(2), np.zeros((1, 4)), options)
