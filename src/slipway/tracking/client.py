"""Explicit tracking client: every call names its run (the fluent API builds on it)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from slipway.core.entities import (
    Experiment,
    Metric,
    Param,
    Run,
    RunArtifact,
    RunInfo,
    RunInput,
    RunStatus,
)
from slipway.core.errors import InvalidInput
from slipway.core.names import check_relative_path
from slipway.flavors import SavedModel, save_model
from slipway.tracking.datasets import dataset_from
from slipway.workspace import Workspace


class TrackingClient:
    """Experiments, runs and what runs log, against one :class:`Workspace`."""

    def __init__(self, workspace: Workspace | None = None) -> None:
        self.workspace = workspace or Workspace()

    # experiments
    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> Experiment:
        """Create an experiment; raises AlreadyExists when the name is taken."""
        return self.workspace.store.experiments.create(name, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.workspace.store.experiments.get(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment:
        """The experiment called ``name``; raises NotFound."""
        return self.workspace.store.experiments.get_by_name(name)

    def search_experiments(self) -> list[Experiment]:
        return self.workspace.store.experiments.search()

    # runs
    def create_run(
        self,
        experiment_id: str,
        *,
        run_name: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> RunInfo:
        """Start a run (status RUNNING) in an experiment."""
        self.workspace.store.experiments.get(experiment_id)
        return self.workspace.store.runs.create(experiment_id, run_name=run_name, tags=tags)

    def get_run(self, run_id: str) -> Run:
        return self.workspace.store.runs.get(run_id)

    def search_runs(
        self, experiment_id: str | None = None, *, status: RunStatus | None = None, limit: int = 100
    ) -> list[RunInfo]:
        """Runs newest first."""
        return self.workspace.store.runs.search(experiment_id, status=status, limit=limit)

    def set_terminated(self, run_id: str, status: RunStatus | str = RunStatus.FINISHED) -> RunInfo:
        return self.workspace.store.runs.set_terminated(run_id, _status(status))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: dict[str, str] | None = None,
    ) -> None:
        """Metrics, params and tags in one transaction."""
        self.workspace.store.runs.log_batch(run_id, metrics, params, tags)

    def log_metric(
        self, run_id: str, key: str, value: float, step: int = 0, timestamp: int | None = None
    ) -> None:
        ts = timestamp if timestamp is not None else int(time.time() * 1000)
        self.log_batch(run_id, metrics=[Metric(key, value, ts, step)])

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.log_batch(run_id, params=[Param(key, str(value))])

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.log_batch(run_id, tags={key: str(value)})

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.workspace.store.runs.metric_history(run_id, key)

    def log_input(
        self, run_id: str, data: Any, *, name: str, context: str = "training", source: str = ""
    ) -> RunInput:
        """Record a dataset the run consumed, by a sha256 of its content."""
        item = RunInput(dataset_from(data, name=name, source=source), context)
        self.workspace.store.runs.log_inputs(run_id, [item])
        return item

    # artifacts
    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> RunArtifact:
        """Store one file as ``<artifact_path>/<file name>`` of the run."""
        local = Path(local_path)
        if not local.is_file():
            raise InvalidInput(f"log_artifact: {local} is not a file")
        name = local.name if artifact_path is None else f"{artifact_path.strip('/')}/{local.name}"
        ref = self.workspace.artifacts.put_file(local)
        artifact = RunArtifact(check_relative_path(name), ref.digest, ref.size)
        self.workspace.store.runs.add_artifact(run_id, artifact)
        return artifact

    def log_artifacts(
        self, run_id: str, local_dir: str | Path, artifact_path: str | None = None
    ) -> list[RunArtifact]:
        """Store every file under ``local_dir``, keeping relative paths."""
        root = Path(local_dir)
        if not root.is_dir():
            raise InvalidInput(f"log_artifacts: {root} is not a directory")
        logged = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).parent.as_posix()
            prefix = "/".join(p for p in (artifact_path, rel) if p and p != ".")
            logged.append(self.log_artifact(run_id, path, prefix or None))
        return logged

    def log_text(self, run_id: str, text: str, artifact_path: str) -> RunArtifact:
        ref = self.workspace.artifacts.put_bytes(text.encode())
        artifact = RunArtifact(check_relative_path(artifact_path), ref.digest, ref.size)
        self.workspace.store.runs.add_artifact(run_id, artifact)
        return artifact

    def download_artifact(self, run_id: str, path: str, dest: str | Path) -> Path:
        """Copy one run artifact to ``dest`` (a file path), verifying its sha256."""
        artifact = self.workspace.store.runs.get_artifact(run_id, path)
        target = Path(dest)
        self.workspace.artifacts.download(artifact.digest, target)
        return target

    def log_model(
        self,
        run_id: str,
        model: object,
        name: str = "model",
        *,
        input_example: Any = None,
        flavor: str | None = None,
        serialization: str | None = None,
    ) -> SavedModel:
        """Save ``model`` (flavor picked from its type) as the run artifact ``name``."""
        self.workspace.store.runs.get(run_id)
        saved = save_model(
            model,
            self.workspace.artifacts,
            flavor=flavor,
            input_example=input_example,
            metadata={"run_id": run_id, "artifact_path": name},
            serialization=serialization,
        )
        size = sum(e.size for e in saved.manifest.entries)
        self.workspace.store.runs.add_artifact(
            run_id, RunArtifact(check_relative_path(name), saved.manifest_digest, size, "model")
        )
        return saved


def _status(status: RunStatus | str) -> RunStatus:
    try:
        return RunStatus(status)
    except ValueError:
        valid = ", ".join(s.value for s in RunStatus)
        raise InvalidInput(f"invalid run status {status!r}: expected one of {valid}") from None
