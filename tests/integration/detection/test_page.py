"""The detector's page in Debian's chromium: upload the astronaut, see a face and a person."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.serving.conftest import Server
from tests.unit.detection.weights import photo

SCREENSHOT = os.environ.get("SLIPWAY_DETECTOR_SCREENSHOT")
"""Where to save a screenshot of the page after a pass (docs/img/detector.png for the docs)."""


def chromium() -> str:
    executable = shutil.which("chromium")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed in CI: run scripts/chromium-up.sh")
        pytest.skip("chromium not installed (scripts/chromium-up.sh installs Debian's)")
    return executable


def test_upload_draws_a_face_and_a_person(
    serve_detector: Callable[..., Server], tmp_path: Path
) -> None:
    executable = chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    server = serve_detector()
    image = tmp_path / "astronaut.png"
    image.write_bytes(photo("astronaut.png"))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 760})
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        try:
            page.goto(server.url + "/")
            page.set_input_files("#file", str(image))
            page.wait_for_selector("body[data-state=done]", timeout=30_000)
            labels = page.locator("#detections li").evaluate_all(
                "items => items.map(i => i.dataset.label)"
            )
            assert "face" in labels
            assert "person" in labels
            assert page.locator("#latency").inner_text().endswith("ms")
            drawn = page.evaluate(
                "() => { const c = document.getElementById('canvas');"
                " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                " let red = 0; for (let i = 0; i < d.length; i += 4)"
                " if (d[i] > 200 && d[i+1] < 60 && d[i+2] < 110) red++; return [c.width, red]; }"
            )
            assert drawn[0] == 512
            assert drawn[1] > 300, "no face box (red) drawn on the canvas"
            assert all(u.startswith((server.url, "blob:")) for u in requests)
            if SCREENSHOT:
                page.screenshot(path=SCREENSHOT, full_page=True)
        except BaseException:
            page.screenshot(path=str(tmp_path / "detector-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
