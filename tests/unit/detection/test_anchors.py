from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slipway.flavors.detection.anchors import AnchorOptions, generate_anchors
from slipway.flavors.detection.specs import MEDIAPIPE_DETECTORS
from slipway.flavors.tflite import TflitePredictor


def test_layout_is_row_major_with_two_anchors_per_cell() -> None:
    anchors = generate_anchors(AnchorOptions(input_size=(32, 32), strides=(16,)))
    # 2x2 grid, one aspect ratio + the interpolated scale = 2 anchors per cell.
    assert anchors.shape == (8, 4)
    np.testing.assert_allclose(anchors[:, 0], [0.25, 0.25, 0.75, 0.75, 0.25, 0.25, 0.75, 0.75])
    np.testing.assert_allclose(anchors[:, 1], [0.25] * 4 + [0.75] * 4)
    np.testing.assert_allclose(anchors[:, 2:], 1.0)  # fixed anchor size


def test_layers_of_one_stride_share_a_grid() -> None:
    options = AnchorOptions(input_size=(128, 128), strides=(8, 16, 16, 16))
    assert len(generate_anchors(options)) == 16 * 16 * 2 + 8 * 8 * 6 == 896


def test_sizes_follow_scales_when_not_fixed() -> None:
    options = AnchorOptions(
        input_size=(16, 16), strides=(16, 16), fixed_anchor_size=False, aspect_ratios=(1.0, 4.0)
    )
    anchors = generate_anchors(options)
    # Per layer: two aspect ratios + interpolated; scales 0.1484375 and 0.75.
    assert anchors.shape == (6, 4)
    np.testing.assert_allclose(anchors[1, 2:], [0.1484375 * 2, 0.1484375 / 2])
    np.testing.assert_allclose(anchors[5, 2:], [np.sqrt(0.75), np.sqrt(0.75)])


@pytest.mark.parametrize("key", sorted(MEDIAPIPE_DETECTORS))
def test_anchor_count_matches_model_output(key: str, mediapipe_dir: Path) -> None:
    spec = MEDIAPIPE_DETECTORS[key]
    model = TflitePredictor((mediapipe_dir / spec.module_path).read_bytes())
    boxes = max(model.outputs, key=lambda d: d.shape[-1])
    assert boxes.shape[1:] == (len(generate_anchors(spec.anchor_options)), spec.num_coords)
    assert model.inputs[0].shape == (1, spec.input_size, spec.input_size, 3)
