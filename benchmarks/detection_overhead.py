"""Serving overhead of the detector: raw LiteRT + pre/post-processing vs ``slipway serve``.

Raw: the same :class:`~slipway.flavors.detection.detector.Detector` (decode, letterbox, invoke,
anchors, weighted NMS) called in-process. Served: multipart uploads to a real server on
127.0.0.1 at concurrency 1 and 8, with batching on (``max_batch_size`` 8) and off (1).
The last line is one JSON object: ``ratio`` = raw per-image time / served per-image time at
concurrency 1 (goal >= 0.85) and ``batching_gain`` = throughput at concurrency 8 with batching
on / off. Needs the MediaPipe weights (``make test`` installs them). Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import skimage

from slipway.flavors import load_model
from slipway.registry import RegistryClient
from slipway.registry.importers import import_mediapipe_detector
from slipway.workspace import Workspace

IMAGE = (Path(skimage.__file__).parent / "data" / "astronaut.png").read_bytes()


def raw_per_image_ms(ws: Workspace, digest: str, n: int) -> float:
    detector = load_model(ws.artifacts, digest).raw
    detector.detect([IMAGE])  # warm up
    times = []
    for _ in range(n):
        started = time.perf_counter()
        detector.detect([IMAGE])
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(env: dict[str, str], batch: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = env | {
        "SLIPWAY_SERVE_MAX_BATCH_SIZE": str(batch),
        "SLIPWAY_SERVE_LOG_PREDICTIONS": "false",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "slipway.cli.main",
            "serve",
            "models:/detector/1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/v2/health/ready").status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start")


def served(url: str, concurrency: int, n: int) -> tuple[float, float]:
    """(median per-request ms, images per second) at ``concurrency``."""
    clients = [httpx.Client(base_url=url, timeout=60) for _ in range(concurrency)]

    def one(i: int) -> float:
        started = time.perf_counter()
        response = clients[i % concurrency].post("/predict", files={"image": ("a.png", IMAGE)})
        response.raise_for_status()
        return time.perf_counter() - started

    for i in range(concurrency):
        one(i)
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        times = list(pool.map(one, range(n)))
    elapsed = time.perf_counter() - started
    for c in clients:
        c.close()
    return statistics.median(times) * 1000, n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args()
    n = 20 if args.quick else 200
    home = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env["SLIPWAY_HOME"] = str(home)
    os.environ["SLIPWAY_HOME"] = str(home)
    ws = Workspace()
    version = import_mediapipe_detector("detector", workspace=ws)
    RegistryClient(ws).set_alias("detector", "champion", 1)
    raw_ms = raw_per_image_ms(ws, version.manifest_digest, n)
    results: dict[str, float] = {"raw_ms": raw_ms}
    for batch in (8, 1):
        process, url = start(env, batch)
        try:
            for concurrency in (1, 8):
                median_ms, throughput = served(url, concurrency, n if concurrency == 1 else 2 * n)
                tag = f"{'batching' if batch > 1 else 'no_batching'}_c{concurrency}"
                results[f"{tag}_ms"] = median_ms
                results[f"{tag}_images_per_s"] = throughput
                print(f"{tag}: median {median_ms:.1f} ms/request, {throughput:.1f} images/s")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    print(f"raw: median {raw_ms:.1f} ms/image")
    results["ratio"] = raw_ms / results["batching_c1_ms"]
    results["batching_gain"] = (
        results["batching_c8_images_per_s"] / results["no_batching_c8_images_per_s"]
    )
    print(json.dumps({k: round(v, 3) for k, v in results.items()}))


if __name__ == "__main__":
    main()
