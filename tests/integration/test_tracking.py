"""The fluent tracking API against real stores (SQLite, PostgreSQL, and a real server in
remote mode)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import slipway
from slipway.core.entities import RunStatus
from slipway.core.errors import Conflict, InvalidInput, NotFound
from slipway.tracking import dataset_from
from slipway.tracking.fluent import PACKAGES_ARTIFACT
from slipway.workspace import Workspace


@pytest.fixture
def workspace(contract_workspace: Workspace) -> Workspace:
    return contract_workspace


def _child_env(workspace: Workspace) -> dict[str, str]:
    """What a training subprocess needs to log into ``workspace``."""
    env = {
        "SLIPWAY_TRACKING_URI": workspace.tracking_uri,
        "SLIPWAY_ARTIFACT_URI": workspace.settings.resolved_artifact_uri(),
        "PATH": "/usr/bin:/bin",
    }
    if "SLIPWAY_TOKEN" in os.environ:
        env["SLIPWAY_TOKEN"] = os.environ["SLIPWAY_TOKEN"]
    return env


def test_run_lifecycle_and_logging(fluent_workspace: Workspace) -> None:
    slipway.set_experiment("churn")
    with slipway.start_run(run_name="first", tags={"team": "risk"}) as run:
        slipway.log_param("lr", 0.1)
        slipway.log_params({"depth": 3, "loss": "log"})
        for step in range(25):
            slipway.log_metric("loss", 1.0 / (step + 1), step=step)
        slipway.log_metrics({"auc": 0.9, "acc": 0.8})
        slipway.set_tag("stage", "dev")
        assert slipway.active_run() is run
    assert slipway.active_run() is None
    stored = slipway.TrackingClient(fluent_workspace).get_run(run.info.run_id)
    assert stored.info.status is RunStatus.FINISHED
    assert stored.info.run_name == "first"
    assert stored.data.params == {"lr": "0.1", "depth": "3", "loss": "log"}
    assert stored.data.metrics["loss"] == pytest.approx(1 / 25)
    assert stored.data.tags["team"] == "risk"
    assert stored.data.tags["stage"] == "dev"
    history = slipway.TrackingClient(fluent_workspace).get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(25))
    assert any(a.path == PACKAGES_ARTIFACT for a in stored.artifacts)


def test_exception_marks_failed_and_keeps_logged_data(fluent_workspace: Workspace) -> None:
    def train() -> str:
        with slipway.start_run() as run:
            slipway.log_metric("loss", 0.5, step=0)
            slipway.log_metric("loss", math.nan, step=1)
            raise RuntimeError(run.info.run_id)

    with pytest.raises(RuntimeError) as failure:
        train()
    run_id = str(failure.value)
    stored = slipway.TrackingClient(fluent_workspace).get_run(run_id)
    assert stored.info.status is RunStatus.FAILED
    assert math.isnan(stored.data.metrics["loss"])  # buffered points were written
    assert slipway.active_run() is None


def test_bad_logging_calls(fluent_workspace: Workspace) -> None:
    with pytest.raises(InvalidInput, match="no active run"):
        slipway.log_metric("x", 1.0)
    with slipway.start_run():
        slipway.log_param("lr", 0.1)
        with pytest.raises(Conflict, match="lr"):
            slipway.log_param("lr", 0.2)
        with pytest.raises(InvalidInput, match="not a number"):
            slipway.log_metric("x", "high")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="invalid metric key"):
            slipway.log_metric("", 1.0)
        with pytest.raises(InvalidInput, match="already active"):
            slipway.start_run()
        with slipway.start_run(nested=True) as child:
            pass
        assert child.info.run_id != slipway.active_run().info.run_id  # type: ignore[union-attr]
        with pytest.raises(InvalidInput, match="artifact path"):
            slipway.log_text("x", "../escape.txt")


def test_artifacts_round_trip(fluent_workspace: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "report"
    (src / "plots").mkdir(parents=True)
    (src / "summary.txt").write_text("ok")
    (src / "plots" / "roc.csv").write_text("0,1\n")
    with slipway.start_run() as run:
        logged = slipway.log_artifacts(src, "eval")
    assert sorted(a.path for a in logged) == ["eval/plots/roc.csv", "eval/summary.txt"]
    client = slipway.TrackingClient(fluent_workspace)
    out = client.download_artifact(run.info.run_id, "eval/plots/roc.csv", tmp_path / "roc.csv")
    assert out.read_text() == "0,1\n"
    with pytest.raises(NotFound):
        client.download_artifact(run.info.run_id, "eval/missing", tmp_path / "m")


def test_dataset_digest_depends_on_content_only() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    same = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}, index=[10, 11])
    other = pd.DataFrame({"a": [1.0, 2.5], "b": ["x", "y"]})
    d1 = dataset_from(frame, name="t")
    assert d1.digest == dataset_from(same, name="t").digest
    assert d1.digest != dataset_from(other, name="t").digest
    assert d1.num_rows == 2
    assert d1.schema == {"a": "float64", "b": str(frame.dtypes["b"])}
    arr = np.arange(12.0).reshape(4, 3)
    assert dataset_from(arr, name="t").digest == dataset_from(arr.copy(), name="t").digest
    assert dataset_from(arr, name="t").digest != dataset_from(arr.T.copy(), name="t").digest
    with pytest.raises(InvalidInput, match="cannot hash"):
        dataset_from(object(), name="t")


def test_log_input_records_hash(fluent_workspace: Workspace) -> None:
    x = np.ones((10, 2))
    with slipway.start_run() as run:
        item = slipway.log_input(x, name="train", source="generated")
    stored = slipway.TrackingClient(fluent_workspace).get_run(run.info.run_id)
    assert stored.inputs[0].dataset.digest == item.dataset.digest
    assert stored.inputs[0].context == "training"


def test_git_commit_and_dirty_flag_are_captured(tmp_path: Path, workspace: Workspace) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    script = repo / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import slipway
            with slipway.start_run() as run:
                slipway.log_metric("m", 1.0)
            print(run.info.run_id)
            """
        )
    )
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    env = _child_env(workspace)

    def run_script() -> str:
        out = subprocess.run(
            [sys.executable, str(script)], env=env, check=True, capture_output=True, text=True
        )
        return out.stdout.strip()

    client = slipway.TrackingClient(workspace)
    clean = client.get_run(run_script()).data.tags
    assert clean["slipway.source.git.commit"] == commit
    assert clean["slipway.source.git.dirty"] == "false"
    script.write_text(script.read_text() + "\n# edited\n")
    dirty = client.get_run(run_script()).data.tags
    assert dirty["slipway.source.git.dirty"] == "true"


def test_killed_process_leaves_the_store_intact(workspace: Workspace) -> None:
    """A training process killed mid-run: what it wrote stays readable, the run stays RUNNING."""
    env = _child_env(workspace)
    script = textwrap.dedent(
        """
        import os, signal, slipway
        with slipway.start_run(capture_environment=False) as run:
            slipway.log_param("lr", 0.1)
            slipway.log_metric("loss", 1.0, step=0)
            slipway.flush()
            print(run.info.run_id, flush=True)
            slipway.log_metric("loss", 0.5, step=1)  # buffered, lost with the process
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == -9
    run = slipway.TrackingClient(workspace).get_run(proc.stdout.strip())
    assert run.info.status is RunStatus.RUNNING
    assert run.data.params == {"lr": "0.1"}
    assert run.data.metrics == {"loss": 1.0}
