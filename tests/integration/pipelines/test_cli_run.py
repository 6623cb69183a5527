"""``slipway run`` as a user types it: a real process, a real SQLite under a temp home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.pipelines.conftest import Project


def _slipway(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env.update({"SLIPWAY_HOME": str(project.root / ".slipway"), "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "slipway.cli.main", "run", *args],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_run_fail_resume_and_cache_from_the_command_line(project: Project) -> None:
    failed = _slipway(project, "demo", "-p", "fail=true")
    assert failed.returncode == 1, failed.stderr
    assert "prepare finished" in failed.stdout
    assert "error: step 'evaluate' failed: RuntimeError: evaluation data missing" in (failed.stderr)

    resumed = _slipway(project, "demo", "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["status"] == "FINISHED"
    statuses = {name: step["status"] for name, step in result["steps"].items()}
    assert statuses == {"prepare": "CACHED", "train": "CACHED", "evaluate": "FINISHED"}

    shown = _slipway(project, str(Path("pipelines") / "demo.yaml"))
    assert shown.returncode == 0, shown.stderr
    assert "prepare cached" in shown.stdout
    assert "evaluate cached" in shown.stdout


def test_invalid_pipeline_and_params_are_one_line_errors(project: Project) -> None:
    project.pipeline_path.write_text(
        project.pipeline_path.read_text().replace("train.model", "training.model")
    )
    broken = _slipway(project, "demo")
    assert broken.returncode == 1
    assert "step 'evaluate' input 'model': unknown step 'training'" in broken.stderr
    assert "Traceback" not in broken.stderr

    bad_param = _slipway(project, "demo", "-p", "scale")
    assert bad_param.returncode == 1
    assert "invalid --param 'scale': expected key=value" in bad_param.stderr
