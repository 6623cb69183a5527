"""The Ray runner for real: a local Ray, the same worker, the same results and step cache.

One Ray session serves the module (starting Ray costs seconds); the command-line test joins it
through ``--ray-address``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from slipway.pipelines import StepStatus, run_pipeline
from slipway.pipelines.execution import PipelineResult
from slipway.pipelines.invocation import OutputRef
from slipway.pipelines.storage import materialize_ref
from slipway.workspace import Workspace
from tests.integration.pipelines.conftest import Project

pytest.importorskip("ray", reason="the Ray runner needs Ray: pip install 'slipway[ray]'")

from slipway.pipelines.ray_runner import RayRunner

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_runner() -> Iterator[RayRunner]:
    runner = RayRunner(num_cpus=2).start()
    yield runner
    runner.close()


def _outputs(result: PipelineResult) -> dict[str, dict[str, OutputRef]]:
    return {name: step.outputs for name, step in result.steps.items()}


def _statuses(result: PipelineResult) -> dict[str, StepStatus]:
    return {name: step.status for name, step in result.steps.items()}


def test_ray_gives_the_local_runners_outputs_and_shares_its_cache(
    project: Project, workspace: Workspace, ray_runner: RayRunner, tmp_path: Path
) -> None:
    local = run_pipeline("demo", workspace=workspace, runner="local")
    assert local.ok, local.failed

    # One cache for both runners: after the local run, Ray runs nothing.
    cached = run_pipeline("demo", workspace=workspace, runner=ray_runner)
    assert cached.ok
    assert set(_statuses(cached).values()) == {StepStatus.CACHED}
    assert _outputs(cached) == _outputs(local)
    assert cached.steps["train"].cached_from == local.steps["train"].run_id

    # The same outputs, byte for byte (digests), computed again on Ray.
    on_ray = run_pipeline("demo", cache=False, workspace=workspace, runner=ray_runner)
    assert on_ray.ok, on_ray.failed
    assert set(_statuses(on_ray).values()) == {StepStatus.FINISHED}
    assert _outputs(on_ray) == _outputs(local)
    # The Ray worker tracked the step as the local one does: metrics and the captured log.
    train = workspace.store.runs.get(on_ray.steps["train"].run_id or "")
    assert train.data.metrics == {"total": 20.0}
    assert train.data.tags["slipway.pipeline.cached"] == "false"
    log_digest = {a.path: a.digest for a in train.artifacts}["logs/step.log"]
    log = materialize_ref(workspace.artifacts, OutputRef(log_digest, "file", 0), tmp_path / "log")
    assert "training on 4 rows" in log.read_text()


def test_a_failing_step_on_ray_is_named_and_its_dependents_skipped(
    project: Project, workspace: Workspace, ray_runner: RayRunner
) -> None:
    project.edit_module(
        '    rows = ctx.input("raw")',
        '    raise ValueError("raw rows unreadable")\n    rows = ctx.input("raw")',
    )
    result = run_pipeline("demo", workspace=workspace, runner=ray_runner)
    assert not result.ok
    assert _statuses(result) == {
        "prepare": StepStatus.FAILED,
        "train": StepStatus.SKIPPED,
        "evaluate": StepStatus.SKIPPED,
    }
    (failed,) = result.failed
    assert failed.name == "prepare"
    assert failed.error == "ValueError: raw rows unreadable"
    assert result.steps["train"].error == "upstream step(s) prepare did not finish"


def test_the_command_line_runs_on_a_given_ray_cluster(
    project: Project, ray_runner: RayRunner
) -> None:
    address = ray_runner.address_in_use
    assert address
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env.update({"SLIPWAY_HOME": str(project.root / ".slipway"), "COLUMNS": "200"})

    def slipway(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "slipway.cli.main", "run", "demo", *args],
            cwd=project.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    first = slipway("--runner", "ray", "--ray-address", address, "--json")
    assert first.returncode == 0, first.stderr
    statuses = {n: s["status"] for n, s in json.loads(first.stdout)["steps"].items()}
    assert set(statuses.values()) == {"FINISHED"}

    again = slipway("--json")  # the local runner, the same cache
    assert again.returncode == 0, again.stderr
    statuses = {n: s["status"] for n, s in json.loads(again.stdout)["steps"].items()}
    assert set(statuses.values()) == {"CACHED"}

    wrong = slipway("--ray-address", address)
    assert wrong.returncode != 0
    assert "--ray-address needs the Ray runner" in wrong.stderr
