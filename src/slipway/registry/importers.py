"""Pre-trained models from installed packages, registered as model versions.

The way a team registers a Model Zoo download, but from a package registry: MediaPipe's
wheel (0.10.21, installed with ``--no-deps`` purely as the weight source; its Python code is
never imported) carries TFLite face, palm and pose detectors. :func:`import_mediapipe_detector`
packages the chosen ones as one multi-label ``detector`` version with its label map,
signature, model card, source package and each file's sha256.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import io
from collections.abc import Sequence
from pathlib import Path

from slipway.core.entities import ModelVersion
from slipway.core.errors import InvalidInput, NotFound
from slipway.flavors import Signature, save_model
from slipway.flavors.detection.flavor import TASK, DetectorPackage
from slipway.flavors.detection.specs import DEFAULT_COMPONENTS, ComponentSpec, mediapipe_spec
from slipway.flavors.signature import FieldSpec, Schema
from slipway.workspace import Workspace

MEDIAPIPE = "mediapipe"
MEDIAPIPE_VERSION = "0.10.21"
INSTALL_HINT = f"pip install --no-deps {MEDIAPIPE}=={MEDIAPIPE_VERSION}"
TAG_SOURCE = "slipway.source"
TAG_TASK = "slipway.task"
TAG_LABELS = "slipway.labels"
TAG_FILE_SHA256 = "slipway.sha256/"
"""Prefix of one tag per model file: ``slipway.sha256/<file>`` = its sha256."""

DETECTOR_SIGNATURE = Signature(
    Schema("tensors", (FieldSpec("image", "string", (-1,)),)),
    Schema(
        "tensors",
        (
            FieldSpec("detections", "string", (-1,)),
            FieldSpec("num_detections", "int32", (-1,)),
            FieldSpec("width", "int32", (-1,)),
            FieldSpec("height", "int32", (-1,)),
            FieldSpec("brightness", "float32", (-1,)),
            FieldSpec("contrast", "float32", (-1,)),
        ),
    ),
)
"""Images in (encoded JPEG/PNG/…, base64 in JSON); per image a JSON list of detections, their
count and the image statistics the prediction log keeps."""


def mediapipe_root() -> tuple[Path, str]:
    """Where the installed ``mediapipe`` package lies, and its version (without importing it)."""
    spec = importlib.util.find_spec(MEDIAPIPE)
    if spec is None or not spec.submodule_search_locations:
        raise NotFound(f"the {MEDIAPIPE} package is not installed: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))), importlib.metadata.version(MEDIAPIPE)


def _example_image() -> str:
    """A small grey PNG, base64: the warm-up input stored with the version."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (128, 128, 128)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def model_card(specs: Sequence[ComponentSpec], source: str) -> str:
    """The version's description: what it detects, from which files, and its limits."""
    lines = [
        "Multi-label object detector built from MediaPipe's pre-trained TFLite SSD detectors.",
        "",
        f"Classes: {', '.join(dict.fromkeys(s.label for s in specs))} (not COCO's 80 classes).",
        f"Source: {source} (weights only; decoded with MediaPipe's graph settings).",
        "",
    ]
    for spec in specs:
        lines.append(
            f"- {spec.label}: {spec.file} ({spec.input_size}x{spec.input_size} input, "
            f"default score threshold {spec.min_score})"
        )
    lines.append("")
    lines.append(
        "Input: JPEG/PNG images. Output per image: a list of {label, score, box} with box = "
        "(x1, y1, x2, y2) in pixels of the (EXIF-upright) image."
    )
    return "\n".join(lines)


def mediapipe_package(keys: Sequence[str] = DEFAULT_COMPONENTS) -> tuple[DetectorPackage, str]:
    """The chosen MediaPipe detectors read from the installed wheel, and its version."""
    if not keys:
        raise InvalidInput("choose at least one detector, e.g. face-short")
    specs = [mediapipe_spec(k) for k in dict.fromkeys(keys)]
    root, version = mediapipe_root()
    components = []
    for spec in specs:
        path = root / spec.module_path
        if not path.is_file():
            raise NotFound(
                f"{path} is missing: only mediapipe 0.10.21, 0.10.14 and 0.10.5 ship the model "
                f"files ({INSTALL_HINT})"
            )
        components.append((spec, path.read_bytes()))
    return DetectorPackage(tuple(components)), version


def import_mediapipe_detector(
    name: str,
    *,
    models: Sequence[str] = DEFAULT_COMPONENTS,
    workspace: Workspace | None = None,
) -> ModelVersion:
    """Register the chosen MediaPipe detectors as the next version of ``name``.

    ``models`` are keys of :data:`~slipway.flavors.detection.specs.MEDIAPIPE_DETECTORS`
    (``face-short``, ``face-full``, ``palm``, ``palm-lite``, ``pose``). The version carries the
    label map (flavor metadata), the signature, a model card as its description, the source
    package and version, and each file's sha256 as tags.
    """
    workspace = workspace or Workspace()
    package, version = mediapipe_package(models)
    source = f"pypi:{MEDIAPIPE}=={version}"
    specs = [spec for spec, _ in package.components]
    saved = save_model(
        package,
        workspace.artifacts,
        input_example=[_example_image()],
        signature=DETECTOR_SIGNATURE,
        metadata={"source": source, "task": TASK},
    )
    tags = {
        TAG_SOURCE: source,
        TAG_TASK: TASK,
        TAG_LABELS: ",".join(package.labels),
        **{
            f"{TAG_FILE_SHA256}{spec.file}": hashlib.sha256(content).hexdigest()
            for spec, content in package.components
        },
    }
    return workspace.store.models.create_version(
        name,
        source=source,
        manifest_digest=saved.manifest_digest,
        flavor=saved.flavor,
        signature=DETECTOR_SIGNATURE.to_dict(),
        description=model_card(specs, source),
        tags=tags,
    )
