"""A multi-label detector: several single-class TFLite detectors behind one ``predict``.

Each component (face, hand, person) letterboxes the image to its own input size, runs its
model on the whole batch at once, decodes its anchors and applies weighted NMS; the
detections of all components are merged, mapped back to the image's pixels, filtered by the
request's score threshold and cut to ``max_detections``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from slipway.core.errors import InvalidInput
from slipway.flavors.detection.anchors import generate_anchors
from slipway.flavors.detection.decode import Candidates, DecodeOptions, decode
from slipway.flavors.detection.image import (
    ImageStats,
    Letterbox,
    decode_image,
    image_stats,
    letterbox,
)
from slipway.flavors.detection.limits import ImageLimits, NotAnImage
from slipway.flavors.detection.nms import weighted_nms
from slipway.flavors.detection.specs import (
    DEFAULT_MAX_DETECTIONS,
    PERSON_FROM_KEYPOINTS,
    ComponentSpec,
)
from slipway.flavors.tflite import TflitePredictor

Array = np.ndarray[Any, Any]
OUTPUTS = ("detections", "num_detections", "width", "height", "brightness", "contrast")


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected object: its class, score and ``[x1, y1, x2, y2]`` box in pixels."""

    label: str
    score: float
    box: tuple[float, float, float, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "score": round(self.score, 4),
            "box": [round(v, 1) for v in self.box],
        }


@dataclass(frozen=True, slots=True)
class ImageResult:
    """Detections of one image, best first, with the image's statistics."""

    detections: list[Detection]
    stats: ImageStats


@dataclass(frozen=True, slots=True)
class Request:
    """Per-image options: ``score_threshold`` None means each component's own default."""

    score_threshold: float | None = None
    max_detections: int = DEFAULT_MAX_DETECTIONS


class Component:
    """One loaded single-class detector with its anchors."""

    def __init__(self, spec: ComponentSpec, model: TflitePredictor) -> None:
        self.spec = spec
        self.model = model
        self.anchors = generate_anchors(spec.anchor_options)
        self.input_name = model.inputs[0].name
        box_output = max(model.outputs, key=lambda d: d.shape[-1])
        self.box_output = box_output.name
        self.score_output = next(d.name for d in model.outputs if d.name != box_output.name)
        boxes = box_output.shape[-2]
        if boxes != len(self.anchors):
            raise InvalidInput(
                f"detector {spec.key}: the model outputs {boxes} boxes but its anchor settings "
                f"give {len(self.anchors)}"
            )

    def detect(self, images: Sequence[Array], requests: Sequence[Request]) -> list[list[Detection]]:
        """Detections of this component for each image (pixels, above the threshold)."""
        size = (self.spec.input_size, self.spec.input_size)
        inputs, boxes = zip(
            *(letterbox(i, size, self.spec.value_range) for i in images), strict=True
        )
        outputs = self.model.run({self.input_name: np.stack(inputs)})
        raw_boxes = outputs[self.box_output].reshape(len(images), len(self.anchors), -1)
        raw_scores = outputs[self.score_output].reshape(len(images), len(self.anchors))
        return [
            self._one(raw_boxes[i], raw_scores[i], boxes[i], requests[i])
            for i in range(len(images))
        ]

    def _one(
        self, raw_boxes: Array, raw_scores: Array, box: Letterbox, request: Request
    ) -> list[Detection]:
        options = self.spec.decode_options
        if request.score_threshold is not None:
            options = DecodeOptions(
                options.num_coords, options.num_keypoints, options.scale, request.score_threshold
            )
        candidates = decode(raw_boxes, raw_scores, self.anchors, options)
        kept = weighted_nms(
            candidates, threshold=self.spec.nms_threshold, max_detections=request.max_detections
        )
        return self._to_pixels(kept, box)

    def _to_pixels(self, kept: Candidates, box: Letterbox) -> list[Detection]:
        if self.spec.box_from == PERSON_FROM_KEYPOINTS:
            # MediaPipe's pose ROI: centred on keypoint 0 (hips), radius to keypoint 1.
            points = box.to_pixels(kept.keypoints[:, :2])
            radius = np.linalg.norm(points[:, 1] - points[:, 0], axis=1)
            corners = np.column_stack(
                [points[:, 0] - radius[:, None], points[:, 0] + radius[:, None]]
            )
        else:
            corners = box.to_pixels(kept.boxes.reshape(-1, 2, 2)).reshape(-1, 4)
        limits = np.array([box.width, box.height, box.width, box.height], dtype=np.float32)
        corners = np.clip(corners, 0, limits)
        return [
            Detection(self.spec.label, float(score), (float(a), float(b), float(c), float(d)))
            for score, (a, b, c, d) in zip(kept.scores, corners, strict=True)
        ]


def image_bytes(value: object, where: str) -> bytes:
    """An image as bytes: raw bytes as given, text as base64."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise NotAnImage(f"{where} is text but not valid base64") from None
    raise NotAnImage(f"{where} must be image bytes or base64 text, got {type(value).__name__}")


class Detector:
    """Several :class:`Component` s as one detector; the predictor the flavor loads."""

    def __init__(
        self,
        components: Sequence[Component],
        *,
        limits: ImageLimits | None = None,
        max_detections: int = DEFAULT_MAX_DETECTIONS,
    ) -> None:
        self.components = tuple(components)
        self.limits = limits or ImageLimits()
        self.max_detections = max_detections

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.spec.label for c in self.components))

    def detect(
        self, images: Sequence[bytes | str], requests: Sequence[Request] | None = None
    ) -> list[ImageResult]:
        """Detections for each encoded image (bytes, or base64 text)."""
        requests = requests or [Request(max_detections=self.max_detections)] * len(images)
        if len(requests) != len(images):
            raise InvalidInput(f"{len(images)} images but {len(requests)} request options")
        pixels = [
            decode_image(image_bytes(v, _where(i, images)), self.limits, where=_where(i, images))
            for i, v in enumerate(images)
        ]
        found: list[list[Detection]] = [[] for _ in pixels]
        for component in self.components:
            for i, detections in enumerate(component.detect(pixels, requests)):
                found[i].extend(detections)
        results = []
        for image, detections, request in zip(pixels, found, requests, strict=True):
            detections.sort(key=lambda d: -d.score)
            results.append(ImageResult(detections[: request.max_detections], image_stats(image)))
        return results

    def predict(self, data: Any) -> dict[str, Array]:
        """Detect on ``data``: a sequence of images, or a dict with ``image`` and optional
        per-image ``score_threshold`` (NaN: the model's default) and ``max_detections``."""
        images, requests = self._requests(data)
        return encode_results(self.detect(images, requests))

    def _requests(self, data: Any) -> tuple[list[Any], list[Request]]:
        if isinstance(data, dict):
            if "image" not in data:
                raise InvalidInput("detector input needs 'image'")
            images = list(np.asarray(data["image"], dtype=object).reshape(-1))
            n = len(images)
            thresholds = np.asarray(data.get("score_threshold", [np.nan] * n), np.float64).reshape(
                -1
            )
            limits = np.asarray(data.get("max_detections", [self.max_detections] * n)).reshape(-1)
            if len(thresholds) != n or len(limits) != n:
                raise InvalidInput("score_threshold and max_detections need one value per image")
            requests = [
                Request(None if np.isnan(t) else float(t), int(m))
                for t, m in zip(thresholds, limits, strict=True)
            ]
            return images, requests
        images = list(np.asarray(data, dtype=object).reshape(-1))
        return images, [Request(max_detections=self.max_detections)] * len(images)


def encode_results(results: Sequence[ImageResult]) -> dict[str, Array]:
    """Results as the detector's named outputs, one row per image."""
    detections = np.empty(len(results), dtype=object)
    detections[:] = [orjson.dumps([d.to_dict() for d in r.detections]).decode() for r in results]
    return {
        "detections": detections,
        "num_detections": np.array([len(r.detections) for r in results], dtype=np.int32),
        "width": np.array([r.stats.width for r in results], dtype=np.int32),
        "height": np.array([r.stats.height for r in results], dtype=np.int32),
        "brightness": np.array([r.stats.brightness for r in results], dtype=np.float32),
        "contrast": np.array([r.stats.contrast for r in results], dtype=np.float32),
    }


def _where(index: int, images: Sequence[object]) -> str:
    return "image" if len(images) == 1 else f"image {index}"
