"""The detector's web page, shipped as package data (works offline: no CDN, no assets)."""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def detector_page() -> bytes:
    """``static/detector.html``: upload or drop an image, see boxes, labels, scores, latency."""
    return resources.files("slipway.serving").joinpath("static/detector.html").read_bytes()
