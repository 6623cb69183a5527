"""Running a pipeline: check it, then schedule its steps on a runner, with the step cache.

The coordinator (this module, in the caller's process) owns the metadata: it creates the
pipeline's parent run and each step's run (params, inputs with their digests, tags), decides
cache hits, and hands the rest to a :class:`Runner`. A failed step fails the pipeline: its
dependents are skipped, independent steps still run, and finished steps keep their outputs
and cache entries, so running again resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway.core.entities import Dataset, Param, RunArtifact, RunInput, RunStatus
from slipway.core.errors import SlipwayError
from slipway.pipelines.cache import CacheEntry, StepCache, cache_key, code_digest
from slipway.pipelines.dag import CheckedPipeline, check_pipeline
from slipway.pipelines.decorators import Pipeline
from slipway.pipelines.entrypoints import resolve_entry
from slipway.pipelines.invocation import OutputRef, StepInvocation, StepOutcome, StepStatus
from slipway.pipelines.loading import PipelineSource, load_pipeline
from slipway.pipelines.runner import Runner, make_runner
from slipway.pipelines.spec import PipelineSpec, is_path_input, resolve_params, substitute
from slipway.pipelines.storage import ref_exists, store_path
from slipway.pipelines.worker import OUTPUT_PREFIX
from slipway.tracking.environment import git_state
from slipway.tracking.fluent import TAG_GIT_COMMIT, TAG_GIT_DIRTY, TAG_PARENT_RUN
from slipway.workspace import Workspace

TAG_PIPELINE = "slipway.pipeline.name"
TAG_STEP = "slipway.pipeline.step"
TAG_SOURCE_FILE = "slipway.pipeline.source"
TAG_CACHE_KEY = "slipway.pipeline.cache_key"
TAG_CODE = "slipway.pipeline.code_sha256"
TAG_CACHED = "slipway.pipeline.cached"
TAG_CACHED_FROM = "slipway.pipeline.cached_from"
INPUT_CONTEXT = "pipeline"

PipelineLike = str | Path | PipelineSpec | Pipeline


@dataclass(frozen=True, slots=True)
class StepResult:
    name: str
    status: StepStatus
    run_id: str | None = None
    outputs: dict[str, OutputRef] = field(default_factory=dict)
    error: str | None = None
    cache_key: str | None = None
    cached_from: str | None = None
    """For a cached step: the run that produced the reused outputs."""
    started_at: float | None = None
    ended_at: float | None = None


@dataclass(frozen=True, slots=True)
class StepEvent:
    """Progress, for a UI: a step started, finished, failed, was cached or skipped."""

    step: str
    status: StepStatus
    run_id: str | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class PipelineResult:
    pipeline: str
    run_id: str
    experiment_id: str
    status: RunStatus
    steps: dict[str, StepResult]
    """In a runnable order."""

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.FINISHED

    @property
    def failed(self) -> list[StepResult]:
        return [s for s in self.steps.values() if s.status is StepStatus.FAILED]


def check(pipeline: PipelineLike, project_dir: str | Path | None = None) -> CheckedPipeline:
    """Load (for a path or a name) and check a pipeline without running anything."""
    base = Path(project_dir) if project_dir is not None else Path.cwd()
    source = _source(pipeline, base)
    return check_pipeline(source.spec, source.source, base.resolve())


def run_pipeline(
    pipeline: PipelineLike,
    params: Mapping[str, Any] | None = None,
    *,
    cache: bool = True,
    workspace: Workspace | None = None,
    runner: Runner | str | None = None,
    project_dir: str | Path | None = None,
    on_event: Callable[[StepEvent], None] | None = None,
) -> PipelineResult:
    """Run a pipeline (a YAML path, a pipeline name, a spec or a :class:`Pipeline`).

    ``params`` override the declared defaults; ``cache=False`` runs every step even when its
    cache entry matches. Relative input paths and pipeline names are resolved against
    ``project_dir`` (default: the working directory). A failed step does not raise: check
    ``result.ok`` and ``result.failed``. Invalid pipelines raise InvalidInput before anything
    runs.
    """
    checked = check(pipeline, project_dir)
    resolved = resolve_params(checked.spec, dict(params or {}))
    ws = workspace or Workspace()
    step_cache = StepCache(
        ws.settings.home.resolve() / "pipeline-cache",
        ws.tracking_uri,
        ws.settings.resolved_artifact_uri(),
    )
    own_runner = not isinstance(runner, Runner)
    if isinstance(runner, Runner):
        active = runner
    else:
        active = make_runner(runner or "local", max_workers=len(checked.order))
    try:
        coordinator = _Coordinator(checked, resolved, ws, active, step_cache, cache, on_event)
        return coordinator.run()
    finally:
        if own_runner:
            active.close()
        if workspace is None:
            ws.close()


def _source(pipeline: PipelineLike, base: Path) -> PipelineSource:
    if isinstance(pipeline, Pipeline):
        return PipelineSource(pipeline.to_spec(), "<python>")
    if isinstance(pipeline, PipelineSpec):
        return PipelineSource(pipeline, "<python>")
    return load_pipeline(pipeline, base)


class _Coordinator:
    def __init__(
        self,
        checked: CheckedPipeline,
        params: dict[str, Any],
        workspace: Workspace,
        runner: Runner,
        step_cache: StepCache,
        use_cache: bool,
        on_event: Callable[[StepEvent], None] | None,
    ) -> None:
        self.checked = checked
        self.spec = checked.spec
        self.params = params
        self.ws = workspace
        self.runs = workspace.store.runs
        self.runner = runner
        self.cache = step_cache
        self.use_cache = use_cache
        self.on_event = on_event
        self.results: dict[str, StepResult] = {}
        self.external: dict[str, OutputRef] = {}
        self.experiment_id = ""
        self.parent_id = ""

    def run(self) -> PipelineResult:
        experiment = self.ws.store.experiments.get_or_create(self.spec.name)
        self.experiment_id = experiment.experiment_id
        parent = self.runs.create(
            self.experiment_id, run_name=self.spec.name, tags=self._parent_tags()
        )
        self.parent_id = parent.run_id
        self.runs.log_batch(self.parent_id, params=_params(self.params))
        status = RunStatus.FAILED
        try:
            self._schedule()
            ok = all(
                r.status in (StepStatus.FINISHED, StepStatus.CACHED) for r in self.results.values()
            )
            status = RunStatus.FINISHED if ok else RunStatus.FAILED
        except KeyboardInterrupt:
            status = RunStatus.KILLED
            raise
        finally:
            self.runs.set_terminated(self.parent_id, status)
        steps = {name: self.results[name] for name in self.checked.order}
        return PipelineResult(self.spec.name, self.parent_id, self.experiment_id, status, steps)

    def _parent_tags(self) -> dict[str, str]:
        tags = {TAG_PIPELINE: self.spec.name, TAG_SOURCE_FILE: self.checked.source}
        state = git_state(self.checked.base_dir)
        if state is not None:
            tags[TAG_GIT_COMMIT] = state.commit
            tags[TAG_GIT_DIRTY] = str(state.dirty).lower()
        return tags

    # -- scheduling --------------------------------------------------------------------

    def _schedule(self) -> None:
        pending = list(self.checked.order)
        running: dict[Future[StepOutcome], tuple[str, str, str]] = {}
        while pending or running:
            progressed = True
            while progressed:
                progressed = False
                for name in list(pending):
                    deps = self.checked.upstream[name]
                    done = [self.results[d] for d in deps if d in self.results]
                    broken = [r.name for r in done if r.status in _NOT_OK]
                    if broken:
                        pending.remove(name)
                        self._set(StepResult(name, StepStatus.SKIPPED, error=_skip(broken)))
                        progressed = True
                    elif len(done) == len(deps):
                        pending.remove(name)
                        started = self._start(name)
                        if isinstance(started, StepResult):
                            self._set(started)
                            progressed = True
                        else:
                            running[started[0]] = started[1]
            if not running:
                return
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                name, run_id, key = running.pop(future)
                self._set(self._finish(name, run_id, key, future))

    def _set(self, result: StepResult) -> None:
        self.results[result.name] = result
        if self.on_event is not None:
            message = result.error or ""
            if result.status is StepStatus.CACHED:
                message = f"outputs of run {result.cached_from}"
            self.on_event(StepEvent(result.name, result.status, result.run_id, message))

    def _start(self, name: str) -> StepResult | tuple[Future[StepOutcome], tuple[str, str, str]]:
        step = self.spec.step(name)
        try:
            params = {k: substitute(v, self.params, name) for k, v in step.params.items()}
            inputs = {local: self._input(ref) for local, ref in step.inputs.items()}
            code = code_digest(step.entry)
        except SlipwayError as exc:
            return StepResult(name, StepStatus.FAILED, error=str(exc))
        outputs = tuple(step.outputs)
        key = cache_key(entry=step.entry, code=code, params=params, inputs=inputs, outputs=outputs)
        hit = self.cache.get(key) if self.use_cache and _cacheable(step.entry) else None
        if hit is not None and not all(
            ref_exists(self.ws.artifacts, r) for r in hit.outputs.values()
        ):
            hit = None
        tags = {
            TAG_PARENT_RUN: self.parent_id,
            TAG_PIPELINE: self.spec.name,
            TAG_STEP: name,
            TAG_CACHE_KEY: key,
            TAG_CODE: code,
            TAG_CACHED: str(hit is not None).lower(),
        }
        if hit is not None:
            tags[TAG_CACHED_FROM] = hit.run_id
        run = self.runs.create(self.experiment_id, run_name=name, tags=tags)
        self.runs.log_batch(run.run_id, params=_params(params))
        self.runs.log_inputs(
            run.run_id,
            [
                RunInput(Dataset(local, ref.digest, source=step.inputs[local]), INPUT_CONTEXT)
                for local, ref in inputs.items()
            ],
        )
        if hit is not None:
            for output, ref in hit.outputs.items():
                self.runs.add_artifact(
                    run.run_id,
                    RunArtifact(f"{OUTPUT_PREFIX}/{output}", ref.digest, ref.size, ref.kind),
                )
            self.runs.set_terminated(run.run_id, RunStatus.FINISHED)
            return StepResult(
                name,
                StepStatus.CACHED,
                run.run_id,
                outputs=hit.outputs,
                cache_key=key,
                cached_from=hit.run_id,
            )
        invocation = StepInvocation(
            pipeline=self.spec.name,
            step=name,
            entry=step.entry,
            run_id=run.run_id,
            params=params,
            inputs=inputs,
            outputs=outputs,
            tracking_uri=self.ws.tracking_uri,
            artifact_uri=self.ws.settings.resolved_artifact_uri(),
            sys_path=(str(self.checked.base_dir),),
            cache_key=key,
        )
        future = self.runner.submit(invocation)
        if self.on_event is not None:
            self.on_event(StepEvent(name, StepStatus.RUNNING, run.run_id))
        return future, (name, run.run_id, key)

    def _input(self, reference: str) -> OutputRef:
        if is_path_input(reference):
            # Stored, so the step reads exactly the bytes that were hashed for the cache key.
            if reference not in self.external:
                path = self.checked.base_dir / reference
                self.external[reference] = store_path(self.ws.artifacts, path)
            return self.external[reference]
        step, output = reference.split(".", 1)
        return self.results[step].outputs[output]

    def _finish(self, name: str, run_id: str, key: str, future: Future[StepOutcome]) -> StepResult:
        try:
            outcome = future.result()
        except Exception as exc:  # noqa: BLE001 - a dead worker fails its step, not the loop
            error = f"worker failed: {type(exc).__name__}: {exc}"
            with contextlib.suppress(SlipwayError):
                self.runs.set_terminated(run_id, RunStatus.FAILED)
            return StepResult(name, StepStatus.FAILED, run_id, error=error, cache_key=key)
        if not outcome.ok:
            return StepResult(
                name,
                StepStatus.FAILED,
                run_id,
                error=outcome.error,
                cache_key=key,
                started_at=outcome.started_at,
                ended_at=outcome.ended_at,
            )
        self.cache.put(key, CacheEntry(run_id, outcome.outputs))
        return StepResult(
            name,
            StepStatus.FINISHED,
            run_id,
            outputs=outcome.outputs,
            cache_key=key,
            started_at=outcome.started_at,
            ended_at=outcome.ended_at,
        )


_NOT_OK = (StepStatus.FAILED, StepStatus.SKIPPED)


def _cacheable(entry: str) -> bool:
    """False for a step marked ``slipway_cacheable = False``.

    Such a step reads state its inputs do not capture (a gate reads the registry's current
    champion), so an earlier result cannot stand in for running it again.
    """
    try:
        return getattr(resolve_entry(entry), "slipway_cacheable", True) is not False
    except SlipwayError:
        return True


def _skip(broken: list[str]) -> str:
    return f"upstream step(s) {', '.join(sorted(broken))} did not finish"


def _params(params: Mapping[str, Any]) -> list[Param]:
    return [
        Param(key, value if isinstance(value, str) else json.dumps(value, sort_keys=True))
        for key, value in params.items()
    ]
