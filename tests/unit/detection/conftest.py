from __future__ import annotations

from pathlib import Path

import pytest

from slipway.flavors.detection.detector import Component, Detector
from slipway.flavors.detection.specs import DEFAULT_COMPONENTS, MEDIAPIPE_DETECTORS
from slipway.flavors.tflite import TflitePredictor
from tests.unit.detection.weights import require_mediapipe


@pytest.fixture(scope="session")
def mediapipe_dir() -> Path:
    return require_mediapipe()


@pytest.fixture(scope="session")
def detector(mediapipe_dir: Path) -> Detector:
    """The default multi-label detector (face short-range, palm, pose)."""
    specs = [MEDIAPIPE_DETECTORS[k] for k in DEFAULT_COMPONENTS]
    return Detector(
        [Component(s, TflitePredictor((mediapipe_dir / s.module_path).read_bytes())) for s in specs]
    )
