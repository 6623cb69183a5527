"""Images as model input: OIP v2 ``BYTES`` tensors, base64 JSON and ``multipart/form-data``.

Served detectors (flavor ``detector``) take encoded images. Every transport ends in one
:class:`ImageBatch` (bytes per image plus the request's ``score_threshold`` and
``max_detections``); :class:`ImagePlan` checks it — each image's header is read here, so what
is not an image, is empty or over the limits gets a 4xx naming the problem before it reaches
the batcher — and turns it into the dict of per-image arrays the detector predicts on, which
the batcher concatenates across concurrent requests like any other rows.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.types import Message, Scope

from slipway.core.errors import InvalidInput
from slipway.flavors.detection.limits import ImageLimits, NotAnImage
from slipway.serving.protocol import InferRequest, loads

MAX_IMAGES = 64
_PARAMETERS = ("score_threshold", "max_detections")


@dataclass(frozen=True, slots=True)
class ImageBatch:
    """The images of one request, encoded, with its detection parameters."""

    images: tuple[bytes | str, ...]
    score_threshold: float | None = None
    max_detections: int | None = None


def detection_parameters(doc: dict[str, Any]) -> tuple[float | None, int | None]:
    """``score_threshold`` (0..1) and ``max_detections`` (>= 1) from request parameters."""
    threshold, limit = doc.get("score_threshold"), doc.get("max_detections")
    if isinstance(threshold, str):
        threshold = _number(threshold, "score_threshold")
    if isinstance(limit, str):
        limit = _number(limit, "max_detections")
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0.0 <= threshold <= 1.0
    ):
        raise InvalidInput(f"score_threshold must be a number from 0 to 1, got {threshold!r}")
    if limit is not None and (
        isinstance(limit, bool)
        or not isinstance(limit, int | float)
        or limit != int(limit)
        or limit < 1
    ):
        raise InvalidInput(f"max_detections must be a positive integer, got {limit!r}")
    return (None if threshold is None else float(threshold)), (
        None if limit is None else int(limit)
    )


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise InvalidInput(f"{name} must be finite, got {text!r}")
    return value


def _batch(images: Sequence[bytes | str], parameters: dict[str, Any]) -> ImageBatch:
    if not images:
        raise InvalidInput("no image in the request")
    if len(images) > MAX_IMAGES:
        raise InvalidInput(f"{len(images)} images in one request; the limit is {MAX_IMAGES}")
    threshold, limit = detection_parameters(parameters)
    return ImageBatch(tuple(images), threshold, limit)


def from_oip(request: InferRequest) -> ImageBatch:
    """One ``BYTES`` tensor of base64 images (any name), parameters from the request's."""
    if len(request.inputs) != 1:
        raise InvalidInput("a detector takes one input tensor of images (datatype BYTES)")
    ((name, array),) = request.inputs.items()
    if array.dtype != object:
        raise InvalidInput(f"input {name!r}: images must be a BYTES tensor of base64 strings")
    return _batch([str(v) for v in array.reshape(-1)], request.parameters)


def from_json(body: bytes) -> ImageBatch:
    """``{"image": "<base64>"}`` or ``{"images": [...]}``, with optional parameters."""
    doc = loads(body, '{"image": "<base64>"} or {"images": ["<base64>", ...]}')
    if not isinstance(doc, dict):
        raise InvalidInput('request body must be an object: {"image": "<base64>"}')
    unknown = sorted(set(doc) - {"image", "images", *_PARAMETERS})
    if unknown:
        raise InvalidInput(f"unknown request key {unknown[0]!r}; expected image or images")
    images = doc.get("images", [doc["image"]] if "image" in doc else [])
    if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
        raise InvalidInput("'images' must be a list of base64 strings")
    return _batch(images, doc)


async def from_multipart(scope: Scope, body: bytes, *, max_files: int = MAX_IMAGES) -> ImageBatch:
    """Files of a ``multipart/form-data`` upload (any field name) and form parameters."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    request = Request(scope, replay)
    try:
        parser = MultiPartParser(request.headers, request.stream(), max_files=max_files)
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidInput(f"malformed multipart/form-data upload: {exc.message}") from None
    images: list[bytes | str] = []
    parameters: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            images.append(await value.read())
        elif key in _PARAMETERS:
            parameters[key] = value
    return _batch(images, parameters)


class ImagePlan:
    """Checks image requests for a detector and shapes them for batching.

    ``log_images`` keeps the encoded images (base64) in the prediction log; by default only
    their statistics (the detector's outputs) are logged.
    """

    def __init__(self, limits: ImageLimits, *, log_images: bool = False) -> None:
        self.limits = limits
        self.log_images = log_images

    def check(self, data: Any) -> dict[str, np.ndarray[Any, Any]]:
        """Per-image arrays (``image`` bytes, ``score_threshold``, ``max_detections``)."""
        from slipway.flavors.detection.image import open_image  # Pillow: detectors only

        batch = data if isinstance(data, ImageBatch) else self._from_values(data)
        encoded = np.empty(len(batch.images), dtype=object)
        for i, value in enumerate(batch.images):
            where = "image" if len(batch.images) == 1 else f"image {i}"
            content = _bytes(value, where)
            open_image(content, self.limits, where=where)  # header only: cheap
            encoded[i] = content
        n = len(encoded)
        threshold = np.nan if batch.score_threshold is None else batch.score_threshold
        checked = {
            "image": encoded,
            "score_threshold": np.full(n, threshold, dtype=np.float64),
        }
        if batch.max_detections is not None:
            checked["max_detections"] = np.full(n, batch.max_detections, dtype=np.int64)
        return checked

    @staticmethod
    def _from_values(data: Any) -> ImageBatch:
        """The stored input example (a list of base64 strings) or a bare list of images."""
        values = data if isinstance(data, list) else [data]
        if not all(isinstance(v, str | bytes) for v in values):
            raise InvalidInput("a detector takes encoded images (bytes or base64 strings)")
        return _batch(values, {})

    def loggable(self, checked: dict[str, np.ndarray[Any, Any]]) -> dict[str, Any]:
        """What the log keeps of the input: parameters, and the images only if asked."""
        logged: dict[str, Any] = {"image_bytes": np.array([len(b) for b in checked["image"]])}
        threshold = checked["score_threshold"]
        if not np.isnan(threshold).all():
            logged["score_threshold"] = threshold
        if "max_detections" in checked:
            logged["max_detections"] = checked["max_detections"]
        if self.log_images:
            logged["image"] = np.array([base64.b64encode(b).decode() for b in checked["image"]])
        return logged


def _bytes(value: bytes | str, where: str) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise NotAnImage(f"{where} is not valid base64") from None


def encode_detections(
    outputs: dict[str, np.ndarray[Any, Any]], *, version: int, latency_ms: float
) -> bytes:
    """The plain-JSON answer: per image its detections and size, plus the server latency."""
    predictions = [
        {
            "detections": orjson.Fragment(str(outputs["detections"][i])),
            "width": int(outputs["width"][i]),
            "height": int(outputs["height"][i]),
        }
        for i in range(len(outputs["detections"]))
    ]
    return orjson.dumps(
        {"predictions": predictions, "model_version": str(version), "latency_ms": latency_ms}
    )
