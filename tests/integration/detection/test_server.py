"""The detector behind a real ``slipway serve``: transports, bad input, batching, the log."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from slipway.serving.predlog import read_log
from tests.integration.detection.conftest import MODEL
from tests.integration.serving.conftest import Server
from tests.unit.detection.weights import photo

ASTRONAUT = photo("astronaut.png")


def labels(body: dict[str, object]) -> list[str]:
    (prediction,) = body["predictions"]  # type: ignore[misc]
    return sorted(d["label"] for d in prediction["detections"])


def jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def server(serve_detector: Callable[..., Server]) -> Server:
    return serve_detector(
        env={
            "SLIPWAY_SERVE_MAX_IMAGE_PIXELS": "4000000",
            "SLIPWAY_SERVE_MAX_IMAGE_BYTES": "2000000",
        }
    )


def test_multipart_json_and_oip_agree(server: Server) -> None:
    with server.client() as client:
        upload = client.post("/predict", files={"image": ("a.png", ASTRONAUT, "image/png")})
        assert upload.status_code == 200, upload.text
        assert labels(upload.json()) == ["face", "person"]
        assert upload.json()["latency_ms"] > 0
        text = base64.b64encode(ASTRONAUT).decode()
        as_json = client.post("/predict", json={"image": text, "max_detections": 1})
        assert labels(as_json.json()) == ["face"]
        oip = client.post(
            f"/v2/models/{MODEL}/infer",
            json={
                "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": [text]}],
                "parameters": {"score_threshold": 0.5},
            },
        )
        assert oip.status_code == 200, oip.text
        outputs = {o["name"]: o for o in oip.json()["outputs"]}
        assert outputs["num_detections"]["data"] == [2]
        assert outputs["detections"]["datatype"] == "BYTES"
        metadata = client.get(f"/v2/models/{MODEL}").json()
        assert metadata["inputs"] == [{"name": "image", "datatype": "BYTES", "shape": [-1]}]


def test_each_bad_input_is_a_4xx_naming_it_and_the_server_keeps_serving(server: Server) -> None:
    whole = jpeg(64, 64)
    cases = [
        (b"this is not an image", 400, "not an image"),
        (whole[: len(whole) // 2], 400, "truncated"),
        (b"", 400, "empty"),
        (jpeg(2100, 2000), 413, "over the limit of 4000000 pixels"),
        (b"\xff\xd8" + b"\0" * 2_000_100, 413, "over the limit of 2000000 bytes"),
    ]
    with server.client() as client:
        for content, status, message in cases:
            response = client.post("/predict", files={"image": ("x.jpg", content, "image/jpeg")})
            assert response.status_code == status, (message, response.text)
            assert message in response.json()["error"]
        bad_json = client.post("/predict", json={"image": "@@@"})
        assert bad_json.status_code == 400
        assert "base64" in bad_json.json()["error"]
        threshold = client.post("/predict", json={"image": "", "score_threshold": 7})
        assert "score_threshold" in threshold.json()["error"]
        after = client.post("/predict", files={"image": ("a.png", ASTRONAUT, "image/png")})
        assert after.status_code == 200
        assert labels(after.json()) == ["face", "person"]
    assert server.process.poll() is None


def test_concurrent_images_are_batched_and_logged_without_pixels(server: Server) -> None:
    images = [photo("astronaut.png"), photo("chelsea.png"), photo("coffee.png")] * 8

    def send(content: bytes) -> httpx.Response:
        with server.client() as client:
            return client.post("/predict", files={"image": ("i.png", content, "image/png")})

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(send, images))
    assert all(r.status_code == 200 for r in responses)
    assert [("face" in labels(r.json())) for r in responses[:3]] == [True, False, False]
    with server.client() as client:
        metrics = client.get("/metrics").text
    count = _metric(metrics, "slipway_batch_size_rows_count")
    rows = _metric(metrics, "slipway_batch_size_rows_sum")
    assert rows >= len(images)
    assert count < rows, "no two images were ever predicted in one batch"
    server.stop()
    log = read_log(server.log_dir, MODEL)
    assert len(log) >= len(images)
    assert {"out_width", "out_height", "out_brightness", "out_contrast"} <= set(log.columns)
    assert {"out_num_detections", "out_detections", "in_image_bytes"} <= set(log.columns)
    assert "in_image" not in log.columns
    astronaut = log[log["out_num_detections"] == 2]
    assert (astronaut["out_width"] == 512).all()


def _metric(text: str, name: str) -> float:
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        for line in text.splitlines():
            if line.startswith(name):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} missing from /metrics")
