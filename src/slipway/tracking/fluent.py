"""The MLflow-style fluent API: ``slipway.start_run()``, ``slipway.log_metric()``, …

State (the workspace, the current experiment, the stack of active runs) is per process, as in
MLflow; a run is ended when its ``with`` block exits, FAILED if an exception escaped it.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from slipway.core.entities import Experiment, Param, Run, RunArtifact, RunInfo, RunInput, RunStatus
from slipway.core.errors import InvalidInput
from slipway.tracking.buffer import MetricBuffer
from slipway.tracking.client import TrackingClient
from slipway.tracking.environment import git_state, installed_packages, source_directory
from slipway.workspace import Workspace

DEFAULT_EXPERIMENT = "Default"
TAG_GIT_COMMIT = "slipway.source.git.commit"
TAG_GIT_DIRTY = "slipway.source.git.dirty"
TAG_SOURCE = "slipway.source.name"
TAG_PARENT_RUN = "slipway.parent_run_id"
TAG_PARENT_MODEL = "slipway.parent_model"
PACKAGES_ARTIFACT = "environment/packages.txt"


class ActiveRun:
    """A run in progress; a context manager that ends it."""

    def __init__(self, client: TrackingClient, info: RunInfo) -> None:
        self.client = client
        self._info = info
        self.buffer = MetricBuffer(lambda points: client.log_batch(info.run_id, metrics=points))

    @property
    def info(self) -> RunInfo:
        return self._info

    @property
    def data(self) -> Any:
        return self.to_run().data

    def to_run(self) -> Run:
        self.buffer.flush()
        return self.client.get_run(self._info.run_id)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        end_run(status, run=self)

    def _finish(self, status: RunStatus) -> None:
        try:
            self.buffer.flush()
        finally:
            self._info = self.client.set_terminated(self._info.run_id, status)


@dataclass(frozen=True, slots=True)
class LoggedModel:
    model_uri: str
    run_id: str
    manifest_digest: str
    flavor: str
    signature: dict[str, Any] | None


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.client: TrackingClient | None = None
        self.experiment_id: str | None = None
        self.runs: list[ActiveRun] = []
        self.last_run_id: str | None = None


_state = _State()


def client() -> TrackingClient:
    """The process-wide client (opened lazily from ``SLIPWAY_*`` settings)."""
    with _state.lock:
        if _state.client is None:
            _state.client = TrackingClient(Workspace())
        return _state.client


def set_tracking_uri(uri: str | None, artifact_uri: str | None = None) -> None:
    """Point the fluent API at another metadata store (and optionally artifact store)."""
    with _state.lock:
        if _state.runs:
            raise InvalidInput("cannot change the tracking URI while a run is active")
        if _state.client is not None:
            _state.client.workspace.close()
        _state.client = TrackingClient(Workspace(uri, artifact_uri))
        _state.experiment_id = None


def get_tracking_uri() -> str:
    return client().workspace.tracking_uri


def set_experiment(name: str) -> Experiment:
    """Make ``name`` the experiment of new runs, creating it if needed."""
    exp = client().workspace.store.experiments.get_or_create(name)
    _state.experiment_id = exp.experiment_id
    return exp


def start_run(
    run_name: str | None = None,
    *,
    experiment_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    nested: bool = False,
    capture_environment: bool = True,
) -> ActiveRun:
    """Start a run (use it as ``with slipway.start_run() as run:``).

    Records the git commit and dirty flag of the code being run and the installed packages,
    unless ``capture_environment=False``.
    """
    with _state.lock:
        if _state.runs and not nested:
            raise InvalidInput(
                f"run {_state.runs[-1].info.run_id} is already active: "
                "end it first or pass nested=True"
            )
        c = client()
        exp_id = (
            experiment_id
            or _state.experiment_id
            or set_experiment(DEFAULT_EXPERIMENT).experiment_id
        )
        all_tags = {k: str(v) for k, v in (tags or {}).items()}
        if _state.runs:
            all_tags[TAG_PARENT_RUN] = _state.runs[-1].info.run_id
        if capture_environment:
            all_tags.update(_source_tags())
        info = c.create_run(exp_id, run_name=run_name, tags=all_tags)
        run = ActiveRun(c, info)
        _state.runs.append(run)
        _state.last_run_id = info.run_id
    if capture_environment:
        c.log_text(info.run_id, installed_packages(), PACKAGES_ARTIFACT)
    return run


def _source_tags() -> dict[str, str]:
    directory = source_directory()
    tags = {TAG_SOURCE: str(directory)}
    state = git_state(directory)
    if state is not None:
        tags[TAG_GIT_COMMIT] = state.commit
        tags[TAG_GIT_DIRTY] = str(state.dirty).lower()
    return tags


def active_run() -> ActiveRun | None:
    return _state.runs[-1] if _state.runs else None


def last_active_run_id() -> str | None:
    return _state.last_run_id


def end_run(status: RunStatus | str = RunStatus.FINISHED, *, run: ActiveRun | None = None) -> None:
    """End the innermost active run (or ``run``), flushing buffered metrics first."""
    with _state.lock:
        target = run or active_run()
        if target is None:
            return
        if target in _state.runs:
            _state.runs.remove(target)
    target._finish(RunStatus(status))


def _require_run() -> ActiveRun:
    run = active_run()
    if run is None:
        raise InvalidInput("no active run: call slipway.start_run() first")
    return run


def log_metric(
    key: str, value: float, step: int | None = None, timestamp: int | None = None
) -> None:
    """Log one metric point (buffered; written in batches and when the run ends)."""
    _require_run().buffer.add(key, value, step, timestamp)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    buffer = _require_run().buffer
    for key, value in metrics.items():
        buffer.add(key, value, step, None)


def flush() -> None:
    """Write buffered metrics of the active run now."""
    run = active_run()
    if run is not None:
        run.buffer.flush()


def log_param(key: str, value: Any) -> None:
    """Log a parameter; logging it again with another value raises Conflict."""
    run = _require_run()
    run.client.log_batch(run.info.run_id, params=[Param(key, str(value))])


def log_params(params: Mapping[str, Any]) -> None:
    run = _require_run()
    run.client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])


def set_tag(key: str, value: Any) -> None:
    run = _require_run()
    run.client.set_tag(run.info.run_id, key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    run = _require_run()
    run.client.log_batch(run.info.run_id, tags={k: str(v) for k, v in tags.items()})


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> RunArtifact:
    run = _require_run()
    return run.client.log_artifact(run.info.run_id, local_path, artifact_path)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> list[RunArtifact]:
    run = _require_run()
    return run.client.log_artifacts(run.info.run_id, local_dir, artifact_path)


def log_text(text: str, artifact_path: str) -> RunArtifact:
    run = _require_run()
    return run.client.log_text(run.info.run_id, text, artifact_path)


def log_input(
    data: Any, *, name: str = "dataset", context: str = "training", source: str = ""
) -> RunInput:
    """Record a dataset the active run consumed, by a sha256 of its content."""
    run = _require_run()
    return run.client.log_input(run.info.run_id, data, name=name, context=context, source=source)


def log_model(
    model: object,
    name: str = "model",
    *,
    input_example: Any = None,
    flavor: str | None = None,
    serialization: str | None = None,
) -> LoggedModel:
    """Save a model as an artifact of the active run; the flavor is picked from its type."""
    run = _require_run()
    saved = run.client.log_model(
        run.info.run_id,
        model,
        name,
        input_example=input_example,
        flavor=flavor,
        serialization=serialization,
    )
    return LoggedModel(
        model_uri=f"runs:/{run.info.run_id}/{name}",
        run_id=run.info.run_id,
        manifest_digest=saved.manifest_digest,
        flavor=saved.flavor,
        signature=None if saved.signature is None else saved.signature.to_dict(),
    )


@atexit.register
def _end_runs_at_exit() -> None:
    # A script that never closed its run still gets its buffered metrics written.
    while _state.runs:
        try:
            end_run(RunStatus.FINISHED)
        except Exception:  # noqa: BLE001 - nothing can be reported this late
            _state.runs.clear()
