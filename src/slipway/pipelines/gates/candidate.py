"""A model as a pipeline output: a directory a step writes and a gate registers.

Step outputs are stored as plain manifests, so the model's descriptor (flavor, signature,
input example) travels as a file, ``slipway-model.json``, beside the flavor's files. The gate
turns the directory back into the very manifest :func:`~slipway.flavors.save_model` would have
stored (same files, descriptor as metadata, hence the same digest) and logs it as a model
artifact of its run, which the registry can then register.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from slipway.artifacts import open_artifact_store
from slipway.artifacts.manifest import materialize, store_directory
from slipway.core.entities import RunArtifact
from slipway.core.errors import InvalidInput
from slipway.flavors import save_model
from slipway.workspace import Workspace

DESCRIPTOR_FILE = "slipway-model.json"
CANDIDATE_ARTIFACT = "gate/candidate"


def save_model_dir(
    model: object,
    path: str | Path,
    *,
    input_example: Any | None = None,
    flavor: str | None = None,
    serialization: str | None = None,
) -> Path:
    """Save ``model`` as a directory at ``path``, e.g. ``save_model_dir(m, ctx.output("model"))``.

    The same packaging as :func:`slipway.flavors.save_model` (pass an ``input_example`` to get a
    signature, which the gate's signature check and the server need), written to disk.
    """
    target = Path(path)
    with tempfile.TemporaryDirectory(prefix="slipway-model-dir-") as tmp:
        store = open_artifact_store(Path(tmp).resolve().as_uri())
        saved = save_model(
            model,
            store,
            flavor=flavor,
            input_example=input_example,
            serialization=serialization,
        )
        target.mkdir(parents=True, exist_ok=False)
        materialize(store, saved.manifest, target)
    descriptor = json.dumps(saved.manifest.metadata, sort_keys=True, indent=2)
    (target / DESCRIPTOR_FILE).write_text(descriptor, encoding="utf-8")
    return target


def log_candidate(workspace: Workspace, run_id: str, directory: Path) -> str:
    """Store the model directory as a model artifact of ``run_id``; returns its runs:/ URI."""
    descriptor_path = directory / DESCRIPTOR_FILE
    if not directory.is_dir() or not descriptor_path.is_file():
        raise InvalidInput(
            f"the gate's 'model' input is not a saved model directory (no {DESCRIPTOR_FILE}); "
            "write it with slipway.pipelines.gates.save_model_dir(model, ctx.output('model'))"
        )
    try:
        descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{DESCRIPTOR_FILE} is not valid JSON: {exc}") from None
    if not isinstance(descriptor, dict):
        raise InvalidInput(f"{DESCRIPTOR_FILE} must hold a JSON object")
    with tempfile.TemporaryDirectory(prefix="slipway-candidate-") as tmp:
        files = Path(tmp) / "model"
        shutil.copytree(directory, files, ignore=shutil.ignore_patterns(DESCRIPTOR_FILE))
        digest, manifest = store_directory(workspace.artifacts, files, descriptor)
    size = sum(e.size for e in manifest.entries)
    workspace.store.runs.add_artifact(
        run_id, RunArtifact(CANDIDATE_ARTIFACT, digest, size, "model")
    )
    return f"runs:/{run_id}/{CANDIDATE_ARTIFACT}"
