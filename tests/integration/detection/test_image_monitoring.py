"""Image drift on a served detector: bright photos, then dark downscaled ones, found in the log."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from PIL import Image, ImageEnhance

from slipway.monitoring.images import image_drift_over_time
from tests.integration.detection.conftest import MODEL
from tests.integration.serving.conftest import Server
from tests.unit.detection.weights import photo

PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png")


def variant(name: str, *, brightness: float, scale: float) -> bytes:
    image = Image.open(io.BytesIO(photo(name))).convert("RGB")
    if scale != 1.0:
        size = (round(image.width * scale), round(image.height * scale))
        image = image.resize(size, Image.Resampling.BILINEAR)
    image = ImageEnhance.Brightness(image).enhance(brightness)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def send(server: Server, images: list[bytes]) -> None:
    with server.client() as client:
        for content in images:
            response = client.post("/predict", files={"image": ("i.jpg", content, "image/jpeg")})
            assert response.status_code == 200, response.text


@pytest.fixture
def server(serve_detector: Callable[..., Server]) -> Server:
    return serve_detector()


def test_dark_rescaled_images_drift_from_bright_ones(server: Server) -> None:
    # Reference: the photos brightened, at full and 3/4 size (different sizes and aspects).
    bright = [
        variant(name, brightness=b, scale=s)
        for name in PHOTOS
        for b in (1.15, 1.3)
        for s in (1.0, 0.75)
    ]
    # Current: the same photos, dark and at a third of the size.
    dark = [
        variant(name, brightness=b, scale=s)
        for name in PHOTOS
        for b in (0.12, 0.18)
        for s in (0.33, 0.3)
    ]
    send(server, bright * 2)
    time.sleep(0.05)
    boundary = datetime.now(UTC)
    time.sleep(0.05)
    send(server, dark * 2)
    server.stop()  # flushes the log

    report = image_drift_over_time(server.log_dir, MODEL, reference_until=boundary, every_n=1000)
    assert report.reference_images == len(bright) * 2
    (window,) = report.windows
    assert window.images == len(dark) * 2
    drift = window.drift
    assert drift.drifted
    assert {"brightness", "contrast", "width", "height", "pixels", "detections"} <= set(
        drift.drifted_columns
    ), drift.columns
    ref, cur = drift.reference_means, drift.current_means
    # Same photos, same shapes: aspect moves only by rounding (which a chi-squared test on so
    # few distinct values may still flag).
    assert cur["aspect"] == pytest.approx(ref["aspect"], rel=0.01)
    assert cur["brightness"] < ref["brightness"] / 3
    assert cur["contrast"] < ref["contrast"]
    # Dark, small images change what is detected (fewer people; some spurious faces and
    # hands in the dark photos of the cat and the coffee): a different mix, whichever way.
    assert cur["detections"] != pytest.approx(ref["detections"], abs=0.05)
    assert drift.current_labels != drift.reference_labels
    assert drift.reference_labels.get("face", 0) > 0

    # The same answer from the command line, as JSON.
    env = server_env(server) | {"COLUMNS": "250"}
    done = subprocess.run(
        [sys.executable, "-m", "slipway.cli.main", "monitor", "images", MODEL,
         "--reference-until", boundary.isoformat(), "--every-n", "1000",
         "--log-dir", str(server.log_dir), "--json"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["reference_images"] == len(bright) * 2
    assert doc["windows"][0]["drifted_columns"] == drift.drifted_columns
    table = subprocess.run(
        [sys.executable, "-m", "slipway.cli.main", "monitor", "images", MODEL,
         "--reference-until", boundary.isoformat(), "--every-n", "1000",
         "--log-dir", str(server.log_dir)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert "DRIFT" in table.stdout
    assert "brightness" in table.stdout


def server_env(server: Server) -> dict[str, str]:
    del server
    return {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_SERVE_")}
