"""The tflite and detector flavors through save_model/load_model, and the importer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slipway.artifacts import FsspecArtifactStore
from slipway.core.errors import InvalidInput
from slipway.flavors import load_model, save_model
from slipway.flavors.detection.specs import MEDIAPIPE_DETECTORS
from slipway.flavors.tflite import TfliteModel
from slipway.registry.importers import TAG_FILE_SHA256, import_mediapipe_detector
from slipway.workspace import Workspace
from tests.unit.detection.weights import photo


@pytest.fixture
def store(tmp_path: Path) -> FsspecArtifactStore:
    return FsspecArtifactStore((tmp_path / "artifacts").as_uri())


def test_tflite_round_trip_with_signature(store: FsspecArtifactStore, mediapipe_dir: Path) -> None:
    spec = MEDIAPIPE_DETECTORS["face-short"]
    model = TfliteModel.from_file(mediapipe_dir / spec.module_path)
    example = np.zeros((1, 128, 128, 3), np.float32)
    saved = save_model(model, store, input_example=example)
    assert saved.flavor == "tflite"
    assert saved.signature is not None
    assert saved.signature.inputs.fields[0].shape == (
        -1,
        128,
        128,
        3,
    )
    loaded = load_model(store, saved.manifest_digest)
    outputs = loaded.predict(np.zeros((3, 128, 128, 3), np.float32))
    assert outputs["regressors"].shape == (3, 896, 16)  # batch run item by item
    details = loaded.descriptor["flavor_metadata"]
    assert [d["name"] for d in details["outputs"]] == ["regressors", "classificators"]


def test_tflite_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "model.tflite"
    path.write_bytes(b"not a flatbuffer")
    with pytest.raises(InvalidInput, match="not a TFLite model"):
        TfliteModel.from_file(path)


def test_import_registers_a_version_with_lineage(mediapipe_dir: Path) -> None:
    ws = Workspace()  # the embedded default under the test's SLIPWAY_HOME
    mv = import_mediapipe_detector("detector", models=["face-short", "pose"], workspace=ws)
    assert mv.flavor == "detector"
    assert mv.source.startswith("pypi:mediapipe==")
    assert "face, person" in mv.description
    assert "not COCO" in mv.description
    digests = {k: v for k, v in mv.tags.items() if k.startswith(TAG_FILE_SHA256)}
    assert set(digests) == {
        f"{TAG_FILE_SHA256}face_detection_short_range.tflite",
        f"{TAG_FILE_SHA256}pose_detection.tflite",
    }
    assert mv.signature is not None
    assert mv.signature["inputs"]["fields"][0]["name"] == "image"
    model = load_model(ws.artifacts, mv.manifest_digest)
    meta = model.descriptor["flavor_metadata"]
    assert meta["labels"] == ["face", "person"]
    assert {m["name"] for m in meta["label_map"]} == {"face", "person"}
    outputs = model.raw.predict([photo("astronaut.png")])
    assert outputs["num_detections"][0] == 2
    ws.close()


def test_unknown_detector_names_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="available: face-short"):
        import_mediapipe_detector("d", models=["yolo"], workspace=Workspace())
