from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from slipway.flavors.detection.image import decode_image, image_stats, letterbox, open_image
from slipway.flavors.detection.limits import (
    EmptyImage,
    ImageLimits,
    ImageTooLarge,
    NotAnImage,
    TruncatedImage,
)

LIMITS = ImageLimits()


def encoded(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def zero_width_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 0, 10, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_each_bad_input_has_its_own_error_naming_the_problem() -> None:
    with pytest.raises(NotAnImage, match="not an image"):
        decode_image(b"hello, world", LIMITS)
    with pytest.raises(EmptyImage, match="0 bytes"):
        decode_image(b"", LIMITS)
    with pytest.raises(EmptyImage, match="zero size"):
        decode_image(zero_width_png(), LIMITS)
    jpeg = encoded(Image.new("RGB", (64, 64), "red"), "JPEG")
    with pytest.raises(TruncatedImage, match="truncated"):
        decode_image(jpeg[: len(jpeg) // 2], LIMITS)
    png = encoded(Image.new("RGB", (100, 100)))
    with pytest.raises(ImageTooLarge, match="10000 pixels, over the limit of 9999"):
        decode_image(png, ImageLimits(max_pixels=9_999))
    with pytest.raises(ImageTooLarge, match="over the limit of 10 bytes"):
        open_image(png, ImageLimits(max_bytes=10))


def test_exif_orientation_turns_the_image_upright() -> None:
    wide = Image.new("RGB", (40, 20), "blue")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    pixels = decode_image(encoded(wide, "JPEG", exif=exif), LIMITS)
    assert pixels.shape == (40, 20, 3)


def test_grey_and_alpha_images_become_rgb() -> None:
    assert decode_image(encoded(Image.new("L", (5, 3))), LIMITS).shape == (3, 5, 3)
    assert decode_image(encoded(Image.new("RGBA", (5, 3))), LIMITS).shape == (3, 5, 3)


def test_letterbox_keeps_aspect_and_maps_back_to_pixels() -> None:
    image = np.full((100, 200, 3), 255, np.uint8)
    tensor, box = letterbox(image, (64, 64), (-1.0, 1.0))
    assert tensor.shape == (64, 64, 3)
    assert box.pad_x == 0
    assert box.pad_y == 16 / 64
    assert tensor[0, 0, 0] == -1.0
    assert tensor[32, 32, 0] == pytest.approx(1.0)
    corners = box.to_pixels(np.array([[0.0, 0.25], [1.0, 0.75]], np.float32))
    np.testing.assert_allclose(corners, [[0, 0], [200, 100]], atol=1e-4)


def test_stats() -> None:
    half = np.zeros((10, 10, 3), np.uint8)
    half[:, 5:] = 255
    stats = image_stats(half)
    assert (stats.width, stats.height) == (10, 10)
    assert stats.brightness == pytest.approx(127.5, abs=0.1)
    assert stats.contrast == pytest.approx(127.5, abs=0.1)
