"""Images in: decoding with Pillow under limits, EXIF orientation, letterboxing, statistics.

Every way an upload can be wrong has its own :class:`InvalidImage` subclass whose message names
the problem, so a server answers 4xx with a reason and goes on serving. Decoding happens in
two steps: :func:`open_image` reads only the header (cheap; enough to refuse what is not an
image, is empty or too large), :func:`decode_image` then decodes the pixels (where a truncated
file shows up).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from slipway.flavors.detection.limits import (
    EmptyImage,
    ImageLimits,
    ImageTooLarge,
    NotAnImage,
    TruncatedImage,
)

Array = np.ndarray[Any, Any]


def open_image(content: bytes, limits: ImageLimits, *, where: str = "image") -> Image.Image:
    """The image's header, checked against ``limits``; pixels are not decoded yet."""
    if not content:
        raise EmptyImage(f"{where} is empty (0 bytes)")
    if len(content) > limits.max_bytes:
        raise ImageTooLarge(
            f"{where} is {len(content)} bytes, over the limit of {limits.max_bytes} bytes"
        )
    try:
        with warnings.catch_warnings():
            # Pillow warns (and past twice the limit raises) about decompression bombs; the
            # pixel limit below is the one that applies here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(content))
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"{where} has far more pixels than allowed") from None
    except UnidentifiedImageError:
        declared = _declared_size(content)
        if declared is not None and 0 in declared:
            raise EmptyImage(f"{where} has zero size ({declared[0]}x{declared[1]})") from None
        raise NotAnImage(
            f"{where} is not an image: its {len(content)} bytes match no known format "
            "(JPEG, PNG, GIF, BMP, TIFF, WebP, …)"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        if "truncated" in str(exc).lower():
            raise TruncatedImage(f"{where} is truncated: {exc}") from None
        raise NotAnImage(f"{where} cannot be read as an image: {exc}") from None
    width, height = image.size
    if width == 0 or height == 0:
        raise EmptyImage(f"{where} has zero size ({width}x{height})")
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"{where} is {width}x{height} = {width * height} pixels, over the limit of "
            f"{limits.max_pixels} pixels"
        )
    return image


def _declared_size(content: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG or GIF header: Pillow refuses zero sizes as unreadable,
    and the caller deserves to hear the real reason."""
    if (
        content.startswith(b"\x89PNG\r\n\x1a\n")
        and content[12:16] == b"IHDR"
        and len(content) >= 24
    ):
        return int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")
    if content[:6] in (b"GIF87a", b"GIF89a") and len(content) >= 10:
        return int.from_bytes(content[6:8], "little"), int.from_bytes(content[8:10], "little")
    return None


def decode_image(content: bytes, limits: ImageLimits, *, where: str = "image") -> Array:
    """The image as an (H, W, 3) uint8 RGB array, turned upright by its EXIF orientation."""
    image = open_image(content, limits, where=where)
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except OSError as exc:
        if "truncated" in str(exc).lower() or "broken data stream" in str(exc):
            raise TruncatedImage(f"{where} is truncated: {exc}") from None
        raise NotAnImage(f"{where} cannot be decoded: {exc}") from None
    except (ValueError, SyntaxError) as exc:
        raise NotAnImage(f"{where} cannot be decoded: {exc}") from None
    return np.asarray(image.convert("RGB"))


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How an image was fitted into a square model input, to map boxes back.

    ``pad_x``/``pad_y`` are the padding on each side as a fraction of the input (MediaPipe's
    ``keep_aspect_ratio``: the image is centred, the borders are zero).
    """

    width: int
    height: int
    pad_x: float
    pad_y: float

    def to_pixels(self, normalised: Array) -> Array:
        """``(..., 2)`` points normalised to the model input, as pixels of the image."""
        scale = np.array([1 - 2 * self.pad_x, 1 - 2 * self.pad_y], dtype=np.float32)
        offset = np.array([self.pad_x, self.pad_y], dtype=np.float32)
        size = np.array([self.width, self.height], dtype=np.float32)
        return (normalised - offset) / scale * size


def letterbox(
    image: Array, size: tuple[int, int], value_range: tuple[float, float]
) -> tuple[Array, Letterbox]:
    """``image`` resized into ``size`` (height, width) keeping its aspect ratio, centred,
    scaled to ``value_range``; returns the float32 (H, W, 3) input and its :class:`Letterbox`."""
    height, width = image.shape[:2]
    target_h, target_w = size
    scale = min(target_w / width, target_h / height)
    new_w = max(1, round(width * scale))
    new_h = max(1, round(height * scale))
    resized = np.asarray(
        Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR), dtype=np.float32
    )
    low, high = value_range
    canvas = np.full((target_h, target_w, 3), low, dtype=np.float32)
    top, left = (target_h - new_h) // 2, (target_w - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized * ((high - low) / 255.0) + low
    box = Letterbox(width, height, left / target_w, top / target_h)
    return canvas, box


@dataclass(frozen=True, slots=True)
class ImageStats:
    """What the prediction log keeps about an image instead of its pixels."""

    width: int
    height: int
    brightness: float
    """Mean luma (ITU-R BT.601), 0-255."""
    contrast: float
    """Standard deviation of luma (RMS contrast), 0-255."""


def image_stats(image: Array) -> ImageStats:
    """Size, brightness and contrast of an RGB image (on a subsample for large ones)."""
    height, width = image.shape[:2]
    step = max(1, int(np.sqrt(height * width / 65_536)))
    sample = image[::step, ::step].astype(np.float32)
    luma = sample @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return ImageStats(width, height, float(luma.mean()), float(luma.std()))
