"""The MediaPipe weights and scikit-image's test photos, or a clean skip (a failure in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from slipway.core.errors import NotFound


def require_mediapipe() -> Path:
    """The installed mediapipe package folder (weights only); skip locally, fail in CI."""
    from slipway.registry.importers import INSTALL_HINT, mediapipe_root

    try:
        root, _ = mediapipe_root()
    except NotFound:
        reason = f"MediaPipe weights are not installed ({INSTALL_HINT}; `make test` does it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return root


def photo(name: str) -> bytes:
    """A test photo scikit-image ships (astronaut.png, chelsea.png, coffee.png)."""
    import skimage

    return (Path(skimage.__file__).parent / "data" / name).read_bytes()
