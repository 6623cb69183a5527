"""The detectors MediaPipe ships, with the settings of MediaPipe's own graph configuration.

Values come from the calculator options in MediaPipe 0.10.21's graphs
(``face_detection_short_range.pbtxt`` / ``face_detection_full_range.pbtxt`` through
``face_detection.pbtxt``, ``palm_detection_cpu.pbtxt``, ``pose_detection_cpu.pbtxt``):
``ImageToTensorCalculator`` (input size, value range, ``keep_aspect_ratio``),
``SsdAnchorsCalculator``, ``TensorsToDetectionsCalculator`` and ``NonMaxSuppressionCalculator``
(weighted, IoU). The anchor counts they give match the models' output shapes (896, 2304,
2016, 2254), which a test checks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from slipway.core.errors import InvalidInput
from slipway.flavors.detection.anchors import AnchorOptions
from slipway.flavors.detection.decode import DecodeOptions

PERSON_FROM_KEYPOINTS = "keypoints"
"""Person box from the pose detector's alignment keypoints (hip centre + body-circle point)."""
BOX_FROM_REGRESSION = "box"
DEFAULT_MAX_DETECTIONS = 100


@dataclass(frozen=True, slots=True)
class ComponentSpec:
    """One TFLite detector inside a multi-label detector."""

    key: str
    """Short name used on the command line, e.g. ``face-short``."""
    label: str
    """The class every detection of this model gets."""
    module_path: str
    """The model file inside the ``mediapipe`` package."""
    input_size: int
    value_range: tuple[float, float]
    strides: tuple[int, ...]
    interpolated_scale_aspect_ratio: float
    num_coords: int
    num_keypoints: int
    min_score: float
    nms_threshold: float = 0.3
    box_from: str = BOX_FROM_REGRESSION

    @property
    def file(self) -> str:
        """The file name in a saved model."""
        return self.module_path.rsplit("/", 1)[-1]

    @property
    def anchor_options(self) -> AnchorOptions:
        return AnchorOptions(
            input_size=(self.input_size, self.input_size),
            strides=self.strides,
            interpolated_scale_aspect_ratio=self.interpolated_scale_aspect_ratio,
        )

    @property
    def decode_options(self) -> DecodeOptions:
        return DecodeOptions(
            num_coords=self.num_coords,
            num_keypoints=self.num_keypoints,
            scale=float(self.input_size),
            min_score=self.min_score,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: object) -> ComponentSpec:
        """A spec from stored metadata; anything malformed is InvalidInput."""
        if not isinstance(doc, dict):
            raise InvalidInput("detector metadata: each component must be an object")
        try:
            values = dict(doc)
            values["value_range"] = tuple(values["value_range"])
            values["strides"] = tuple(values["strides"])
            spec = cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"detector metadata: malformed component: {exc}") from None
        if spec.box_from not in (BOX_FROM_REGRESSION, PERSON_FROM_KEYPOINTS):
            raise InvalidInput(f"detector metadata: unknown box_from {spec.box_from!r}")
        return spec


def _face(
    key: str, file: str, size: int, strides: tuple[int, ...], ratio: float, score: float
) -> ComponentSpec:
    return ComponentSpec(
        key=key,
        label="face",
        module_path=f"modules/face_detection/{file}",
        input_size=size,
        value_range=(-1.0, 1.0),
        strides=strides,
        interpolated_scale_aspect_ratio=ratio,
        num_coords=16,
        num_keypoints=6,
        min_score=score,
    )


MEDIAPIPE_DETECTORS: dict[str, ComponentSpec] = {
    spec.key: spec
    for spec in (
        _face("face-short", "face_detection_short_range.tflite", 128, (8, 16, 16, 16), 1.0, 0.5),
        _face("face-full", "face_detection_full_range_sparse.tflite", 192, (4,), 0.0, 0.6),
        ComponentSpec(
            key="palm",
            label="hand",
            module_path="modules/palm_detection/palm_detection_full.tflite",
            input_size=192,
            value_range=(0.0, 1.0),
            strides=(8, 16, 16, 16),
            interpolated_scale_aspect_ratio=1.0,
            num_coords=18,
            num_keypoints=7,
            min_score=0.5,
        ),
        ComponentSpec(
            key="palm-lite",
            label="hand",
            module_path="modules/palm_detection/palm_detection_lite.tflite",
            input_size=192,
            value_range=(0.0, 1.0),
            strides=(8, 16, 16, 16),
            interpolated_scale_aspect_ratio=1.0,
            num_coords=18,
            num_keypoints=7,
            min_score=0.5,
        ),
        ComponentSpec(
            key="pose",
            label="person",
            module_path="modules/pose_detection/pose_detection.tflite",
            input_size=224,
            value_range=(-1.0, 1.0),
            strides=(8, 16, 32, 32, 32),
            interpolated_scale_aspect_ratio=1.0,
            num_coords=12,
            num_keypoints=4,
            min_score=0.5,
            box_from=PERSON_FROM_KEYPOINTS,
        ),
    )
}
DEFAULT_COMPONENTS = ("face-short", "palm", "pose")


def mediapipe_spec(key: str) -> ComponentSpec:
    """The spec of one MediaPipe detector by key; unknown keys list the known ones."""
    try:
        return MEDIAPIPE_DETECTORS[key]
    except KeyError:
        known = ", ".join(MEDIAPIPE_DETECTORS)
        raise InvalidInput(f"unknown detector {key!r}; available: {known}") from None
