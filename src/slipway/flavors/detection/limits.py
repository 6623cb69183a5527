"""Limits on uploaded images and the typed errors for each way an image can be unusable.

Kept apart from :mod:`slipway.flavors.detection.image` so that servers and clients can name
them without importing Pillow.
"""

from __future__ import annotations

from dataclasses import dataclass

from slipway.core.errors import InvalidInput

DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_BYTES = 20 * 1024 * 1024


class InvalidImage(InvalidInput):
    """An uploaded image that cannot be used; subclasses say why."""


class NotAnImage(InvalidImage):
    """The bytes are not in an image format Pillow reads."""


class EmptyImage(InvalidImage):
    """No bytes at all, or an image of zero width or height."""


class TruncatedImage(InvalidImage):
    """The file ends before the image data does (a cut-off upload)."""


class ImageTooLarge(InvalidImage):
    """More bytes or pixels than the configured limits allow."""


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What an uploaded image may be: at most ``max_bytes`` encoded, ``max_pixels`` decoded."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
