"""The face detector on onnxruntime (CUDA when there is a GPU) vs LiteRT on the CPU.

MediaPipe's short-range face model (``face_detection_short_range.tflite`` from the installed
``mediapipe==0.10.21`` wheel) is converted to ONNX with ``tflite2onnx`` (its graph is NCHW
afterwards; images are transposed on the way in), then both runtimes get the same images
through the same pre/post-processing of ``slipway.flavors.detection`` (decode, letterbox,
anchors, sigmoid, weighted NMS): only the model invoke differs. Checked first: both find the
astronaut's face at the same box (within ``--tolerance`` pixels).

Timed per image, end to end (decode + letterbox + invoke + decode boxes + NMS), one image at a
time, after warm-up: LiteRT on the CPU (XNNPACK, 1 thread, as the served flavor does), and
onnxruntime on each provider it has (``CUDAExecutionProvider`` first when available). The last
line is one JSON object; ``ratio`` = LiteRT CPU per-image time / onnxruntime per-image time on
the best provider (CUDA when available, else CPU): > 1 means onnxruntime is faster;
``ratio_invoke`` is the same for the model call alone (``*_invoke_ms``: one letterboxed image,
no decode, no NMS), where a GPU can only win what the invoke costs.

    .venv/bin/python benchmarks/detection_gpu.py --quick      # here: tflite2onnx from
                                                              # benchmarks/.venv (setup.sh)
    benchmarks/detection_gpu.sh --quick                       # a bare machine: own venv

The conversion runs in this interpreter when it has ``tflite2onnx``, else in
``--convert-python`` (default ``benchmarks/.venv/bin/python``): the converter (and its
``tflite`` package) stays out of Slipway's own environment. Not part of the tests.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from slipway.flavors.detection.detector import Component, Detection, Detector
from slipway.flavors.detection.specs import mediapipe_spec
from slipway.flavors.tflite import TensorDetail, TflitePredictor

HERE = Path(__file__).resolve().parent
SPEC = mediapipe_spec("face-short")
Array = np.ndarray[Any, Any]


def photo(name: str) -> bytes:
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        sys.exit("scikit-image is not installed (it ships the test photos)")
    return (Path(spec.origin).parent / "data" / name).read_bytes()


def tflite_path() -> Path:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("mediapipe is not installed: pip install --no-deps mediapipe==0.10.21")
    path = Path(next(iter(spec.submodule_search_locations))) / SPEC.module_path
    if not path.is_file():
        sys.exit(f"{path} is missing: only mediapipe 0.10.21, 0.10.14 and 0.10.5 ship it")
    return path


def convert(source: Path, target: Path, python: str) -> str:
    """tflite2onnx, here or in ``python``; returns the converter's description."""
    code = (
        "import sys, tflite2onnx; tflite2onnx.convert(sys.argv[1], sys.argv[2]); "
        "print('tflite2onnx', tflite2onnx.__version__)"
    )
    interpreter = sys.executable if importlib.util.find_spec("tflite2onnx") else python
    if not Path(interpreter).exists():
        sys.exit(
            f"tflite2onnx is not installed here and {interpreter} does not exist: run "
            "benchmarks/setup.sh then `benchmarks/.venv/bin/uv pip install --python "
            "benchmarks/.venv/bin/python tflite2onnx`, or use benchmarks/detection_gpu.sh"
        )
    done = subprocess.run(
        [interpreter, "-c", code, str(source), str(target)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0 or not target.is_file():
        sys.exit(f"tflite2onnx failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


class OnnxPredictor:
    """An ONNX session with the tensor details :class:`Component` reads from a TFLite model.

    tflite2onnx makes the graph NCHW; the detector letterboxes to NHWC, so images are
    transposed here, once per invoke.
    """

    def __init__(self, path: Path, providers: Sequence[str]) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        # Idle intra-op threads would spin between invokes and take the cores the image
        # decoding of the next request needs (measured: 2-3x slower end to end on 2 cores).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=list(providers))
        self.providers = self.session.get_providers()
        self.inputs = [_detail(i, n) for n, i in enumerate(self.session.get_inputs())]
        self.outputs = [_detail(o, n) for n, o in enumerate(self.session.get_outputs())]

    def run(self, feed: dict[str, Array]) -> dict[str, Array]:
        nchw = {k: np.ascontiguousarray(v.transpose(0, 3, 1, 2)) for k, v in feed.items()}
        names = [o.name for o in self.outputs]
        return dict(zip(names, self.session.run(names, nchw), strict=True))


def _detail(arg: Any, index: int) -> TensorDetail:
    shape = tuple(d if isinstance(d, int) else 1 for d in arg.shape)
    return TensorDetail(arg.name, index, shape, "float32")


def detector(model: Any) -> Detector:
    return Detector([Component(SPEC, model)])


def faces(found: Detector, image: bytes) -> list[Detection]:
    (result,) = found.detect([image])
    return result.detections


def invoke_ms(model: Any, n: int) -> float:
    """The model call alone, on one letterboxed image (no decode, no NMS)."""
    name = model.inputs[0].name
    feed = {name: np.zeros((1, SPEC.input_size, SPEC.input_size, 3), dtype=np.float32)}
    for _ in range(5):
        model.run(feed)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        model.run(feed)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def per_image_ms(detect: Callable[[bytes], object], images: list[bytes], n: int) -> float:
    for image in images:  # warm-up: first invokes allocate, CUDA builds its kernels
        detect(image)
    times = []
    for i in range(n):
        image = images[i % len(images)]
        start = time.perf_counter()
        detect(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


@dataclass(frozen=True)
class Agreement:
    boxes: list[list[float]]
    max_pixel_difference: float


def agree(reference: list[Detection], other: list[Detection], tolerance: float) -> Agreement:
    if len(reference) != 1 or len(other) != 1:
        sys.exit(f"expected one face on the astronaut, got {len(reference)} and {len(other)}")
    a, b = np.asarray(reference[0].box), np.asarray(other[0].box)
    difference = float(np.abs(a - b).max())
    if difference > tolerance:
        sys.exit(f"the face boxes differ by {difference:.1f} px (> {tolerance}): {a} vs {b}")
    return Agreement([a.round(1).tolist(), b.round(1).tolist()], difference)


def rescaled(content: bytes, scale: float) -> bytes:
    image = Image.open(io.BytesIO(content)).convert("RGB")
    size = (round(image.width * scale), round(image.height * scale))
    buffer = io.BytesIO()
    image.resize(size, Image.Resampling.BILINEAR).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few images: a smoke test")
    parser.add_argument("--images", type=int, default=None, help="timed images per runtime")
    parser.add_argument("--tolerance", type=float, default=3.0, help="pixels")
    parser.add_argument(
        "--convert-python", default=str(HERE / ".venv" / "bin" / "python"), help="has tflite2onnx"
    )
    args = parser.parse_args()
    n = args.images or (30 if args.quick else 500)

    import onnxruntime as ort

    if hasattr(ort, "preload_dlls"):  # onnxruntime-gpu[cuda,cudnn]: CUDA from the wheels
        try:
            ort.preload_dlls()
        except Exception as exc:  # noqa: BLE001 - reported, then CPU only
            print(f"onnxruntime could not preload the CUDA libraries: {exc}")
    available = ort.get_available_providers()
    source = tflite_path()
    astronaut = photo("astronaut.png")
    images = [astronaut, photo("chelsea.png"), photo("coffee.png"), rescaled(astronaut, 2.0)]
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "face_detection_short_range.onnx"
        converter = convert(source, onnx_path, args.convert_python)
        tflite = TflitePredictor(source.read_bytes(), num_threads=1)
        litert = detector(tflite)
        reference = faces(litert, astronaut)
        figures: dict[str, Any] = {
            "benchmark": "detection_gpu",
            "model": source.name,
            "converter": converter,
            "onnxruntime": ort.__version__,
            "available_providers": available,
            "images": n,
            "quick": args.quick,
            "litert_cpu_ms": round(per_image_ms(lambda b: litert.detect([b]), images, n), 3),
        }
        figures["litert_cpu_invoke_ms"] = round(invoke_ms(tflite, n), 3)
        print(
            f"LiteRT CPU: {figures['litert_cpu_ms']:.2f} ms per image ({n} images), "
            f"invoke alone {figures['litert_cpu_invoke_ms']:.2f} ms"
        )
        wanted = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        best: str | None = None
        for provider in wanted:
            try:
                predictor = OnnxPredictor(onnx_path, [provider])
            except Exception as exc:  # noqa: BLE001 - e.g. CUDA libraries missing: say so
                print(f"{provider}: cannot create a session: {exc}")
                continue
            if predictor.providers[0] != provider:
                print(f"{provider}: not usable here (session fell back to {predictor.providers})")
                continue
            onnx = detector(predictor)
            found = agree(reference, faces(onnx, astronaut), args.tolerance)
            key = "onnx_cuda_ms" if provider.startswith("CUDA") else "onnx_cpu_ms"
            figures[key] = round(per_image_ms(lambda b, d=onnx: d.detect([b]), images, n), 3)
            stem = key.removesuffix("_ms")
            figures[f"{stem}_invoke_ms"] = round(invoke_ms(predictor, n), 3)
            figures[f"{stem}_box_difference_px"] = round(found.max_pixel_difference, 3)
            print(
                f"onnxruntime {provider}: {figures[key]:.2f} ms per image, invoke alone "
                f"{figures[f'{stem}_invoke_ms']:.2f} ms; face box "
                f"{found.boxes[1]} vs LiteRT {found.boxes[0]}"
            )
            best = best or key
    if best is None:
        sys.exit("no onnxruntime provider could run the model")
    figures["best_provider"] = "CUDAExecutionProvider" if best == "onnx_cuda_ms" else "CPU"
    figures["ratio"] = round(figures["litert_cpu_ms"] / figures[best], 3)
    invoke = f"{best.removesuffix('_ms')}_invoke_ms"
    figures["ratio_invoke"] = round(figures["litert_cpu_invoke_ms"] / figures[invoke], 3)
    figures["cpu_count"] = os.cpu_count()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
