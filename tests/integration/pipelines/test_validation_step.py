"""The built-in validation step in a real pipeline run: passes clean data, fails the run on a
hard-rule break naming the column, and takes hand-kept expectations as a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slipway.pipelines import run_pipeline
from slipway.pipelines.validation import infer_expectations
from slipway.workspace import Workspace

PIPELINE = """\
name: check
steps:
  - name: validate
    entry: slipway.pipelines.validation_step:validate_data
    inputs: {{data: ./data/new.parquet, {source}}}
    params: {{row_count_tolerance: null}}
    outputs: [report]
"""


def frame(rng: np.random.Generator, rows: int, plan: str = "basic") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "spend": rng.normal(100, 15, rows),
            "plan": rng.choice(["basic", "premium"], rows) if plan == "basic" else plan,
        }
    )


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "pipelines").mkdir()
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    frame(rng, 2_000).to_parquet(tmp_path / "data" / "ref.parquet")
    return tmp_path


def write(root: Path, source: str) -> Path:
    path = root / "pipelines" / "check.yaml"
    path.write_text(PIPELINE.format(source=source))
    return path


def test_clean_data_passes_and_a_new_category_fails_the_run(
    root: Path, workspace: Workspace
) -> None:
    pipeline = write(root, "reference: ./data/ref.parquet")
    frame(np.random.default_rng(1), 500).to_parquet(root / "data" / "new.parquet")
    assert run_pipeline(pipeline, workspace=workspace).ok

    frame(np.random.default_rng(2), 500, plan="enterprise").to_parquet(
        root / "data" / "new.parquet"
    )
    failed = run_pipeline(pipeline, workspace=workspace)
    assert not failed.ok
    error = failed.steps["validate"].error or ""
    assert "plan" in error
    assert "enterprise" in error or "categor" in error


def test_hand_kept_expectations_are_a_file_input(root: Path, workspace: Workspace) -> None:
    expectations = infer_expectations(pd.read_parquet(root / "data" / "ref.parquet"))
    assert expectations.columns["spend"].range is not None
    expectations.columns["spend"].range.max = 90.0  # tightened by hand: most rows now fail
    (root / "data" / "expect.json").write_text(expectations.to_json())
    frame(np.random.default_rng(3), 500).to_parquet(root / "data" / "new.parquet")
    failed = run_pipeline(write(root, "expectations: ./data/expect.json"), workspace=workspace)
    assert not failed.ok
    assert "spend" in (failed.steps["validate"].error or "")


def test_both_or_neither_source_is_refused(root: Path, workspace: Workspace) -> None:
    frame(np.random.default_rng(4), 10).to_parquet(root / "data" / "new.parquet")
    both = "reference: ./data/ref.parquet, expectations: ./data/ref.parquet"
    result = run_pipeline(write(root, both), workspace=workspace)
    assert not result.ok
    assert "exactly one" in (result.steps["validate"].error or "")
