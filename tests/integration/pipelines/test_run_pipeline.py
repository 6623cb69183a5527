"""Running pipelines for real: worker processes, the step cache, tracked runs, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slipway.core.entities import RunStatus
from slipway.pipelines import Pipeline, StepStatus, run_pipeline
from slipway.pipelines.execution import PipelineResult
from slipway.pipelines.invocation import OutputRef
from slipway.pipelines.spec import parse_pipeline
from slipway.pipelines.storage import materialize_ref
from slipway.workspace import Workspace
from tests.integration.pipelines.conftest import Project
from tests.unit.pipelines import steps_for_tests


def _statuses(result: PipelineResult) -> dict[str, StepStatus]:
    return {name: step.status for name, step in result.steps.items()}


def _read(workspace: Workspace, ref: OutputRef, dest: Path) -> str:
    return materialize_ref(workspace.artifacts, ref, dest).read_text()


def test_steps_are_tracked_runs_under_a_parent(
    project: Project, workspace: Workspace, tmp_path: Path
) -> None:
    first = run_pipeline("demo", workspace=workspace)
    assert first.ok, first.failed
    assert set(_statuses(first).values()) == {StepStatus.FINISHED}

    # What each step recorded: params, input digests, outputs, log, metrics, parent.
    store = workspace.store
    parent = store.runs.get(first.run_id)
    assert parent.info.status is RunStatus.FINISHED
    assert parent.data.params == {"scale": "2", "fail": "false"}
    experiment = store.experiments.get_by_name("demo")
    assert parent.info.experiment_id == experiment.experiment_id
    train = store.runs.get(first.steps["train"].run_id or "")
    assert train.info.status is RunStatus.FINISHED
    assert train.data.tags["slipway.parent_run_id"] == first.run_id
    assert train.data.tags["slipway.pipeline.cached"] == "false"
    assert train.data.metrics == {"total": 20.0}
    (data_input,) = train.inputs
    assert data_input.dataset.name == "data"
    assert data_input.dataset.digest == first.steps["prepare"].outputs["data"].digest
    artifacts = {a.path: a for a in train.artifacts}
    assert artifacts["outputs/model"].kind == "directory"
    log = _read(workspace, OutputRef(artifacts["logs/step.log"].digest, "file", 0), tmp_path / "l")
    assert "training on 4 rows" in log
    prepare = store.runs.get(first.steps["prepare"].run_id or "")
    assert prepare.data.params == {"scale": "2"}
    (raw_input,) = prepare.inputs
    assert raw_input.dataset.source == "./data/raw.txt"
    prep_log = {a.path: a for a in prepare.artifacts}["logs/step.log"]
    printed = _read(workspace, OutputRef(prep_log.digest, "file", 0), tmp_path / "p")
    assert "prepare: read 4 rows" in printed  # print() output is captured too
    model = materialize_ref(
        workspace.artifacts, first.steps["train"].outputs["model"], tmp_path / "model"
    )
    assert json.loads((model / "weights.json").read_text()) == {"w": 5.0}
    assert (model / "meta" / "pid.txt").read_text() == "worker"

    # Unchanged: everything cached, the same outputs, a run per step saying so.
    second = run_pipeline("demo", workspace=workspace)
    assert set(_statuses(second).values()) == {StepStatus.CACHED}
    assert second.steps["evaluate"].outputs == first.steps["evaluate"].outputs
    assert second.steps["train"].cached_from == first.steps["train"].run_id
    cached_run = store.runs.get(second.steps["train"].run_id or "")
    assert cached_run.info.status is RunStatus.FINISHED
    assert cached_run.data.tags["slipway.pipeline.cached"] == "true"
    assert {a.path for a in cached_run.artifacts} == {"outputs/model"}
    assert cached_run.inputs == train.inputs


# The cache index lives under SLIPWAY_HOME, not in the metadata store: one backend suffices.
@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_cache_misses_on_code_param_and_data_changes(
    project: Project, workspace: Workspace
) -> None:
    two_steps = project.pipeline_path.read_text().split("  - name: evaluate")[0]
    project.pipeline_path.write_text(two_steps)
    first = run_pipeline("demo", workspace=workspace)
    assert set(_statuses(first).values()) == {StepStatus.FINISHED}

    # A param change: the step using it misses, and so does train (its input bytes changed).
    changed = run_pipeline("demo", {"scale": "3"}, workspace=workspace)
    assert set(_statuses(changed).values()) == {StepStatus.FINISHED}
    assert changed.steps["prepare"].outputs != first.steps["prepare"].outputs

    # A code change in the steps' module: its steps miss.
    project.edit_module("ctx.logger.info(", "ctx.logger.warning(")
    code = run_pipeline("demo", workspace=workspace)
    assert set(_statuses(code).values()) == {StepStatus.FINISHED}
    assert code.steps["train"].cache_key != first.steps["train"].cache_key

    # A data change: the step reading the file runs again; restoring it hits the cache.
    (project.root / "data" / "raw.txt").write_text("4 3 2 1 0\n")
    data = run_pipeline("demo", workspace=workspace)
    assert data.steps["prepare"].status is StepStatus.FINISHED
    (project.root / "data" / "raw.txt").write_text("1 2 3 4\n")
    back = run_pipeline("demo", workspace=workspace)
    assert set(_statuses(back).values()) == {StepStatus.CACHED}
    assert back.steps["train"].cached_from == code.steps["train"].run_id


def test_failure_keeps_finished_steps_and_the_rerun_resumes(
    project: Project, workspace: Workspace
) -> None:
    failed = run_pipeline("demo", {"fail": "true"}, workspace=workspace)
    assert not failed.ok
    assert failed.status is RunStatus.FAILED
    assert _statuses(failed) == {
        "prepare": StepStatus.FINISHED,
        "train": StepStatus.FINISHED,
        "evaluate": StepStatus.FAILED,
    }
    (bad,) = failed.failed
    assert bad.name == "evaluate"
    assert bad.error == "RuntimeError: evaluation data missing"
    run = workspace.store.runs.get(bad.run_id or "")
    assert run.info.status is RunStatus.FAILED
    assert run.data.tags["slipway.pipeline.error"] == bad.error
    assert workspace.store.runs.get(failed.run_id).info.status is RunStatus.FAILED

    resumed = run_pipeline("demo", {"fail": "false"}, workspace=workspace)
    assert resumed.ok
    assert _statuses(resumed) == {
        "prepare": StepStatus.CACHED,
        "train": StepStatus.CACHED,
        "evaluate": StepStatus.FINISHED,
    }


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_dependents_of_a_failed_step_are_skipped_and_others_still_run(
    project: Project, workspace: Workspace
) -> None:
    spec = parse_pipeline(
        {
            "name": "branches",
            "steps": [
                {
                    "name": "prepare",
                    "entry": f"{project.module}:prepare",
                    "params": {"scale": 1},
                    "inputs": {"raw": "./data/raw.txt"},
                    "outputs": ["data"],
                },
                {
                    "name": "broken",
                    "entry": f"{project.module}:train",
                    "inputs": {"data": "prepare.data"},
                    "outputs": ["model", "never_written"],
                },
                {
                    "name": "after",
                    "entry": f"{project.module}:evaluate",
                    "inputs": {"model": "broken.model"},
                    "outputs": ["report"],
                },
                {
                    "name": "independent",
                    "entry": f"{project.module}:slow",
                    "params": {"seconds": 0},
                    "outputs": ["times"],
                },
            ],
        },
        "<test>",
    )
    result = run_pipeline(spec, workspace=workspace)
    assert _statuses(result) == {
        "prepare": StepStatus.FINISHED,
        "broken": StepStatus.FAILED,
        "after": StepStatus.SKIPPED,
        "independent": StepStatus.FINISHED,
    }
    assert "did not write its output(s) 'never_written'" in (result.steps["broken"].error or "")
    assert result.steps["after"].run_id is None


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_independent_steps_run_in_parallel(project: Project, workspace: Workspace) -> None:
    steps = [
        {
            "name": f"slow_{i}",
            "entry": f"{project.module}:slow",
            "params": {"seconds": 1.0},
            "outputs": ["times"],
        }
        for i in range(2)
    ]
    spec = parse_pipeline({"name": "parallel", "steps": steps}, "<test>")
    result = run_pipeline(spec, workspace=workspace)
    assert result.ok
    spans = [
        json.loads(_read(workspace, s.outputs["times"], Path(project.root / s.name)))
        for s in result.steps.values()
    ]
    assert max(start for start, _ in spans) < min(end for _, end in spans), spans


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_decorator_pipeline_runs(workspace: Workspace) -> None:
    pipeline = Pipeline(
        "decorated", steps=[steps_for_tests.make_data, steps_for_tests.fit], params={"n": 7}
    )
    result = run_pipeline(pipeline, workspace=workspace)
    assert result.ok, result.failed
    assert (
        _read(workspace, result.steps["fit"].outputs["model"], Path(workspace.settings.home) / "m")
        == "7"
    )
