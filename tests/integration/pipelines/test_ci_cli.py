"""``slipway ci`` and the example project as a user runs them: real processes, a temp home."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "tabular"


def _slipway(cwd: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env.update({"SLIPWAY_HOME": str(cwd / ".slipway"), "COLUMNS": "200", **extra_env})
    return subprocess.run(
        [sys.executable, "-m", "slipway.cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_example_pipeline_runs_end_to_end(tmp_path: Path) -> None:
    project = tmp_path / "tabular"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".slipway", "__pycache__"))
    result = _slipway(project, "run", "train", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    run = json.loads(result.stdout)
    statuses = {name: step["status"] for name, step in run["steps"].items()}
    steps = ["prepare", "validate", "train", "evaluate", "gate"]
    assert statuses == dict.fromkeys(steps, "FINISHED")
    assert run["steps"]["train"]["outputs"]["model"]["kind"] == "directory"
    shown = _slipway(project, "models", "show", "breast-cancer-pipeline")
    assert shown.returncode == 0, shown.stderr
    assert "challenger" in shown.stdout  # the gate passed and named the candidate


def test_ci_init_then_ci_run_fails_where_ci_would(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "score.yaml").write_text("name: score\nsteps: []\n")
    (tmp_path / "tests").mkdir()

    created = _slipway(tmp_path, "ci", "init")
    assert created.returncode == 0, created.stderr
    workflow = yaml.safe_load((tmp_path / ".github" / "workflows" / "slipway.yml").read_text())
    assert workflow["jobs"]["pipeline"]["steps"][4]["run"].endswith("slipway run score")

    again = _slipway(tmp_path, "ci", "init")
    assert again.returncode == 1
    assert "already exists; pass --force" in again.stderr
    assert _slipway(tmp_path, "ci", "init", "--force").returncode == 0

    failing = _slipway(tmp_path, "ci", "run", "--tests", "python -c 'raise SystemExit(3)'")
    assert failing.returncode == 3, failing.stdout + failing.stderr
    assert "install skipped" in failing.stdout
    assert "tests failed (exit code 3)" in failing.stdout
    assert "slipway run score" not in failing.stdout  # stopped at the first failing stage
    assert "stage 'tests' failed with exit code 3" in failing.stderr


def test_ci_run_stops_before_deploy_when_the_pipeline_fails(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "missing.yaml").write_text("name: missing\nsteps: []\n")
    # An empty pipeline fails `slipway run` with exit code 1, as it would in CI.
    result = _slipway(tmp_path, "ci", "run", SLIPWAY_CI_DEPLOY="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pipeline failed (exit code 1)" in result.stdout
    assert "deploy" not in result.stdout.split("pipeline failed")[1]
