"""Model gates against a real SQLite registry, and real ``slipway serve`` processes.

Most cases call the gate step in-process with a real workspace (seconds each); one runs the
whole pipeline through ``slipway run`` to hold the exit code and the pipeline wiring.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from slipway.core.settings import Settings
from slipway.pipelines.context import StepContext
from slipway.pipelines.gates import (
    REPORT_ARTIFACT,
    TAG_PASSED,
    TAG_REPORT,
    GateFailed,
    GateReport,
    gate,
    save_model_dir,
)
from slipway.registry import RegistryClient
from slipway.store import migrate
from slipway.store.engine import create_sql_engine
from slipway.tracking import TrackingClient
from slipway.workspace import Workspace

FEATURES = ["f0", "f1", "f2", "f3"]


def _data(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(FEATURES)))
    frame = pd.DataFrame(x, columns=FEATURES)
    frame["label"] = (x[:, 0] + x[:, 1] > 0).astype(int)
    # A slice the model does not see as a column: the rows where f2 is large.
    frame["segment"] = np.where(x[:, 2] > 1.0, "b", "a")
    return frame


TRAIN = _data(600, 0)
EVAL = _data(400, 1)


def _good(rows: int = len(TRAIN)) -> LogisticRegression:
    return LogisticRegression().fit(TRAIN[FEATURES].head(rows), TRAIN["label"].head(rows))


def _worse() -> LogisticRegression:
    """Same features, but fitted to a cruder label (f0 alone): clearly less accurate."""
    return LogisticRegression().fit(TRAIN[FEATURES], (TRAIN["f0"] > 0).astype(int))


def _wrong_on_segment_b() -> DecisionTreeClassifier:
    labels = np.where(TRAIN["segment"] == "b", 1 - TRAIN["label"], TRAIN["label"])
    return DecisionTreeClassifier(max_depth=6, random_state=0).fit(TRAIN[FEATURES], labels)


class Gatekeeper:
    """A migrated SQLite workspace, evaluation data on disk, and a way to call the gate."""

    def __init__(self, root: Path) -> None:
        uri = f"sqlite:///{root / 'meta.db'}"
        engine = create_sql_engine(uri)
        migrate.upgrade(engine)
        engine.dispose()
        self.root = root
        self.ws = Workspace(uri, (root / "artifacts").as_uri())
        self.registry = RegistryClient(self.ws)
        self.tracking = TrackingClient(self.ws)
        self.experiment = self.tracking.create_experiment("gates").experiment_id
        self.eval_path = root / "eval.parquet"
        EVAL.to_parquet(self.eval_path)

    def champion(self, name: str, model: Any, columns: list[str] = FEATURES) -> int:
        run = self.tracking.create_run(self.experiment)
        self.tracking.log_model(run.run_id, model, input_example=TRAIN[columns].head(3))
        version = self.registry.register_model(f"runs:/{run.run_id}/model", name)
        self.registry.set_alias(name, "champion", version.version)
        return version.version

    def gate(self, model: Any, params: dict[str, Any], columns: list[str] = FEATURES) -> GateReport:
        """Run the gate step on ``model``; the report, also when it failed."""
        work = self.root / uuid.uuid4().hex
        model_dir = save_model_dir(model, work / "model", input_example=TRAIN[columns].head(3))
        run = self.ws.store.runs.create(self.experiment, run_name="gate")
        (work / "out").mkdir()
        ctx = StepContext(
            step="gate",
            run_id=run.run_id,
            params=params,
            inputs={"model": model_dir, "eval_data": self.eval_path},
            output_dir=work / "out",
            output_names=(),
            logger=logging.getLogger("test.gate"),
            workspace=self.ws,
        )
        failure: GateFailed | None = None
        try:
            gate(ctx)
        except GateFailed as exc:
            failure = exc
        if failure is not None:
            assert str(failure).startswith(f"gate failed for {params['model_name']}")
            report = failure.report
        else:
            stored = self.ws.store.runs.get_artifact(run.run_id, REPORT_ARTIFACT)
            doc = json.loads(self.ws.artifacts.get_bytes(stored.digest))
            assert doc["passed"] is True
            report = _report_from(doc)
        version = self.registry.get_model_version(params["model_name"], report.candidate_version)
        stored = self.ws.store.runs.get_artifact(run.run_id, REPORT_ARTIFACT)
        assert version.tags[TAG_REPORT] == stored.digest
        assert version.tags[TAG_PASSED] == str(report.passed).lower()
        return report


def _report_from(doc: dict[str, Any]) -> GateReport:
    from slipway.pipelines.gates import CheckResult

    checks = tuple(CheckResult(**c) for c in doc["checks"])
    return GateReport(
        doc["model_name"],
        doc["candidate_version"],
        doc["candidate_digest"],
        doc["champion_version"],
        checks,
        doc["metrics"],
        doc["run_id"],
    )


@pytest.fixture(scope="module")
def keeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gatekeeper]:
    keeper = Gatekeeper(tmp_path_factory.mktemp("gates"))
    yield keeper
    keeper.ws.close()


def _params(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "model_name": name,
        "task": "classification",
        "label": "label",
        "thresholds": ["accuracy >= 0.7", "roc_auc >= 0.75"],
        "champion": {"tolerance": {"absolute": 0.01}},
        **extra,
    }


def _aliases(keeper: Gatekeeper, name: str, version: int) -> tuple[str, ...]:
    return keeper.registry.get_model_version(name, version).aliases


def test_first_candidate_passes_without_a_champion_and_becomes_challenger(
    keeper: Gatekeeper,
) -> None:
    report = keeper.gate(_good(), _params("first"))
    assert report.passed
    champion = next(c for c in report.checks if c.name == "champion")
    assert champion.passed
    assert "no 'champion'" in champion.note
    assert _aliases(keeper, "first", report.candidate_version) == ("challenger",)
    # The evaluation data's profile is stored with the version: monitoring's reference.
    from slipway.monitoring.profile import load_profile

    profile = load_profile(keeper.ws, "first", report.candidate_version)
    assert profile is not None
    assert "label" not in profile.features
    assert profile.prediction is not None


def test_worse_candidate_is_rejected_naming_the_failed_check(keeper: Gatekeeper) -> None:
    keeper.champion("worse", _good())
    report = keeper.gate(_worse(), _params("worse", thresholds=["accuracy >= 0.5"]))
    assert not report.passed
    failed = {c.name for c in report.failed}
    assert "vs_champion:accuracy" in failed
    assert "threshold" not in {c.kind for c in report.failed}
    assert "vs_champion:accuracy" in report.summary()
    # Registered for audit, but no alias.
    assert _aliases(keeper, "worse", report.candidate_version) == ()
    assert keeper.registry.get_model_version_by_alias("worse", "champion").version == 1


def test_absolute_threshold_failure_is_named(keeper: Gatekeeper) -> None:
    report = keeper.gate(_good(), _params("strict", thresholds=["accuracy >= 0.999"]))
    assert [c.name for c in report.failed] == ["accuracy"]
    assert "accuracy: " in report.summary()


def test_slice_regression_alone_fails_the_gate(keeper: Gatekeeper) -> None:
    params = _params(
        "sliced",
        thresholds=["accuracy >= 0.7"],
        slices=[
            {"name": "seg_b", "where": "segment == b", "thresholds": ["accuracy >= 0.8"]},
            {"name": "low_f3", "column": "f3", "max": 0.0, "thresholds": ["accuracy >= 0.5"]},
        ],
    )
    report = keeper.gate(_wrong_on_segment_b(), params)
    assert [c.name for c in report.failed] == ["slice:seg_b:accuracy"]
    assert report.metrics["accuracy"] is not None
    assert report.metrics["accuracy"] >= 0.7
    assert _aliases(keeper, "sliced", report.candidate_version) == ()


def test_signature_break_fails_unless_allowed(keeper: Gatekeeper) -> None:
    keeper.champion("sig", _good())
    narrow = ["f0", "f1", "f2"]
    model = LogisticRegression().fit(TRAIN[narrow], TRAIN["label"])
    report = keeper.gate(model, _params("sig"), columns=narrow)
    assert [c.name for c in report.failed] == ["signature"]
    assert "field 'f3' removed" in report.failed[0].note

    allowed = keeper.gate(model, _params("sig", allow_breaking_signature=True), columns=narrow)
    assert allowed.passed
    assert _aliases(keeper, "sig", allowed.candidate_version) == ("challenger",)


def test_better_candidate_passes_infra_validation_and_becomes_challenger(
    keeper: Gatekeeper,
) -> None:
    keeper.champion("better", _good(rows=40))
    report = keeper.gate(_good(), _params("better", infra={"requests": 15, "p95_ms": 2000}))
    assert report.passed, report.summary()
    infra = next(c for c in report.checks if c.name == "infra")
    assert infra.value is not None
    assert 0 < infra.value <= 2000
    assert _aliases(keeper, "better", report.candidate_version) == ("challenger",)
    assert keeper.registry.get_model_version_by_alias("better", "champion").version == 1


def test_impossible_latency_budget_fails_infra_validation(keeper: Gatekeeper) -> None:
    report = keeper.gate(_good(), _params("fast", infra={"requests": 5, "p95_ms": 0.001}))
    assert [c.name for c in report.failed] == ["infra"]
    assert report.failed[0].value is not None
    assert report.failed[0].value > 0.001


PIPELINE_STEPS = """
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from slipway.pipelines.gates import save_model_dir


def train(ctx):
    data = pd.read_parquet(ctx.input("data"))
    features = data[["f0", "f1", "f2", "f3"]]
    labels = data["label"]
    if ctx.params["shuffle"]:
        labels = pd.Series(np.random.default_rng(0).permutation(labels.to_numpy()))
    model = LogisticRegression().fit(features, labels)
    save_model_dir(model, ctx.output("model"), input_example=features.head(3))
"""

PIPELINE = """
name: gated
params: {{shuffle: false}}
steps:
  - name: train
    entry: {module}:train
    params: {{shuffle: "${{params.shuffle}}"}}
    inputs: {{data: ./data/train.parquet}}
    outputs: [model]
  - name: gate
    entry: slipway.pipelines.gates:gate
    params:
      model_name: gated
      task: classification
      label: label
      thresholds: ["roc_auc >= 0.8"]
      slices: [{{name: seg_b, where: "segment == b", thresholds: ["accuracy >= 0.7"]}}]
    inputs: {{model: train.model, eval_data: ./data/eval.csv}}
    outputs: [report]
"""


def test_slipway_run_exits_non_zero_when_the_gate_fails(tmp_path: Path) -> None:
    module = f"gate_steps_{uuid.uuid4().hex[:10]}"
    (tmp_path / "data").mkdir()
    (tmp_path / "pipelines").mkdir()
    (tmp_path / f"{module}.py").write_text(PIPELINE_STEPS)
    (tmp_path / "pipelines" / "gated.yaml").write_text(PIPELINE.format(module=module))
    TRAIN.to_parquet(tmp_path / "data" / "train.parquet")
    EVAL.to_csv(tmp_path / "data" / "eval.csv", index=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env.update({"SLIPWAY_HOME": str(tmp_path / ".slipway"), "COLUMNS": "200"})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "slipway.cli.main", "run", "gated", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    passed = run()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    failed = run("-p", "shuffle=true")
    assert failed.returncode == 1
    assert "step 'gate' failed" in failed.stderr
    assert "roc_auc" in failed.stderr

    registry = RegistryClient(Workspace(settings=Settings(home=tmp_path / ".slipway")))
    try:
        first, second = (registry.get_model_version("gated", v) for v in (1, 2))
        assert first.aliases == ("challenger",)
        assert (first.tags[TAG_PASSED], second.tags[TAG_PASSED]) == ("true", "false")
        assert second.aliases == ()
    finally:
        registry.workspace.close()
