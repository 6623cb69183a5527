"""Continuous training end to end on the embedded default: a real pipeline with a gate, a
real prediction log and labels, a real GitOps repository. New labels trigger exactly one
retrain (the cooldown holds the second), a passing candidate becomes a canary commit, a
failing one commits nothing."""

from __future__ import annotations

import json
import os
import textwrap
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from slipway.ct.loop import ContinuousTraining, CtState
from slipway.ct.policy import parse_policy
from slipway.gitops.repo import GitRepo
from slipway.monitoring.labels import ingest_labels
from slipway.serving.predlog import PredictionLog, PredictionRecord
from slipway.workspace import Workspace

pytestmark = pytest.mark.timeout(300)
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

STEPS = """
import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from slipway.pipelines.gates import save_model_dir


def prepare(ctx):
    data = load_breast_cancer(as_frame=True).frame
    extra = ctx.params.get("production_data") or ""
    if extra:
        data = pd.concat([data, pd.read_parquet(extra)], ignore_index=True)
    train, evaluation = train_test_split(
        data, test_size=0.3, random_state=0, stratify=data["target"]
    )
    train.to_parquet(ctx.output("train"), index=False)
    evaluation.to_parquet(ctx.output("eval"), index=False)


def train(ctx):
    data = pd.read_parquet(ctx.input("train"))
    x, y = data.drop(columns=["target"]), data["target"].to_numpy()
    if int(ctx.params.get("bad", 0)):
        y = np.random.default_rng(0).permutation(y)  # a model that learned nothing
    model = LogisticRegression(max_iter=5000).fit(x, y)
    save_model_dir(model, ctx.output("model"), input_example=x.head(3))
"""

PIPELINE = """
name: train
params: {production_data: "", bad: 0}
steps:
  - name: prepare
    entry: steps:prepare
    params: {production_data: "${params.production_data}"}
    outputs: [train, eval]
  - name: train
    entry: steps:train
    params: {bad: "${params.bad}"}
    inputs: {train: prepare.train}
    outputs: [model]
  - name: gate
    entry: slipway.pipelines.gates:gate
    inputs: {model: train.model, eval_data: prepare.eval}
    params:
      model_name: bc
      task: classification
      label: target
      thresholds: ["accuracy >= 0.85"]
      champion: {enabled: false}
"""

POLICY = """
apiVersion: slipway.dev/v1
kind: ContinuousTraining
deployment: bc
model: bc
pipeline: {{project: {project}, name: train, data_param: production_data, label: target}}
triggers:
  new_labels: {{rows: 50}}
cooldown: 6h
max_retrains_per_day: 3
canary: {{steps: [0.2, 1.0], interval: 10s, min_samples: 20}}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "pipelines").mkdir(parents=True)
    (root / "steps.py").write_text(textwrap.dedent(STEPS))
    (root / "pipelines" / "train.yaml").write_text(PIPELINE)
    return root


def production(home: Path, *, magnify: float = 1.0, wrong: bool = False, version: int = 1) -> None:
    """200 logged predictions with their features, 120 of them labelled later. ``magnify``
    scales the size measurements (a recalibrated scanner: drift); ``wrong`` logs the opposite
    of the truth as the prediction (a performance drop)."""
    data = load_breast_cancer(as_frame=True)
    rng = np.random.default_rng(0)
    rows = data.frame.iloc[rng.permutation(len(data.frame))[:200]].copy()
    sizes = [c for c in rows.columns if "radius" in c or "perimeter" in c or "area" in c]
    rows[sizes] = rows[sizes] * magnify
    log = PredictionLog(home / "logs")
    log.start()
    for i, (_, row) in enumerate(rows.iterrows()):
        features = {k: [float(v)] for k, v in row.drop("target").items()}
        predicted = 1 - int(row["target"]) if wrong else int(row["target"])
        log.submit(
            PredictionRecord(
                f"r{i}", int((T0 + timedelta(seconds=10 * i)).timestamp() * 1000), "bc", "bc",
                version, "champion", 1.0, 200, features, {"prediction": [predicted]},
            )
        )  # fmt: skip
    log.close()
    labels = pd.DataFrame(
        {"request_id": [f"r{i}" for i in range(120)], "label": rows["target"].to_numpy()[:120]}
    )
    ingest_labels(home / "labels", "bc", labels, log_root=home / "logs")


def policy_with(project: Path, triggers: str, extra: str = "") -> str:
    policy = POLICY.format(project=project).replace("  new_labels: {rows: 50}\n", triggers)
    return policy + extra


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that keeps what it is sent."""

    bodies: list[dict[str, object]] = field(default_factory=list)

    def serve(self) -> tuple[ThreadingHTTPServer, str]:
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


def test_new_labels_retrain_once_and_commit_a_canary(project: Path) -> None:
    home = Path(os.environ["SLIPWAY_HOME"]).resolve()
    production(home)
    ws, repo = Workspace(), GitRepo.default(home)
    loop = ContinuousTraining(
        ws, repo, home, parse_policy("ct.yaml", POLICY.format(project=project))
    )
    now = T0 + timedelta(hours=1)
    first = loop.check(now)
    assert first.outcome == "deployed", first.reason
    assert first.fired is not None
    assert first.fired.trigger == "new_labels"
    assert first.candidate == "models:/bc/1"
    assert first.data_sha256 is not None
    commit = repo.log(["deployments"], max_count=1)[0]
    assert commit.sha == first.commit
    assert commit.author == "slipway-ct"
    assert "new_labels: labelled rows since last (120 vs 50)" in commit.body
    assert commit.trailers["Slipway-Strategy"] == "canary"
    data = sorted((home / "ct" / "data").glob("*.parquet"))
    assert len(pd.read_parquet(data[0])) == 120
    # More labels arrive at once: the cooldown holds the second retrain back.
    again = loop.check(now + timedelta(minutes=5))
    assert again.outcome in ("idle", "blocked")
    actions = [e.action for e in ws.store.audit.search(entity_type="deployment")]
    assert actions.count("ct.triggered") == 1
    assert "ct.deployed" in actions


def test_a_failing_candidate_commits_nothing(project: Path) -> None:
    home = Path(os.environ["SLIPWAY_HOME"]).resolve()
    production(home)
    (project / "pipelines" / "train.yaml").write_text(PIPELINE.replace("bad: 0}", "bad: 1}"))
    ws, repo = Workspace(), GitRepo.default(home)
    loop = ContinuousTraining(
        ws, repo, home, parse_policy("ct.yaml", POLICY.format(project=project))
    )
    result = loop.check(T0 + timedelta(hours=1))
    assert result.outcome == "gate_failed", result.reason
    assert "gate" in result.reason
    assert repo.head() is None  # nothing committed
    actions = [e.action for e in ws.store.audit.search(entity_type="deployment")]
    assert "ct.gate_failed" in actions


def test_drift_triggers_a_retrain_named_with_its_columns(project: Path) -> None:
    """The champion's stored profile against a magnified production window: the size columns
    drift, the share passes the threshold, the retrain's canary commit names them."""
    from sklearn.linear_model import LogisticRegression

    import slipway
    from slipway.monitoring.profile import attach_profile, compute_profile

    home = Path(os.environ["SLIPWAY_HOME"]).resolve()
    data = load_breast_cancer(as_frame=True)
    model = LogisticRegression(max_iter=5000).fit(data.data, data.target)
    with slipway.start_run():
        logged = slipway.log_model(model, "model", input_example=data.data.head(3))
    champion = slipway.register_model(logged.model_uri, "bc")
    attach_profile(Workspace(), "bc", champion.version, compute_profile(data.data))
    production(home, magnify=1.5, version=champion.version)
    policy = policy_with(project, "  drift: {window: 1h, share_above: 0.2}\n")
    ws, repo = Workspace(), GitRepo.default(home)
    loop = ContinuousTraining(ws, repo, home, parse_policy("ct.yaml", policy))
    result = loop.check(T0 + timedelta(minutes=40))
    assert result.outcome == "deployed", result.reason
    assert result.fired is not None
    assert result.fired.trigger == "drift"
    assert result.fired.value > 0.2
    body = repo.log(["deployments"], max_count=1)[0].body
    assert "continuous training: drift: dataset drift share over 3600 s (" in body
    assert "mean radius" in body
    assert result.candidate == f"models:/bc/{champion.version + 1}"
    # Unshifted traffic an hour later: nothing fires (and the cooldown would hold it anyway).
    assert loop.fired(T0 + timedelta(hours=5), CtState()) == []


def test_performance_drop_triggers_a_retrain_once_enough_labels_joined(project: Path) -> None:
    home = Path(os.environ["SLIPWAY_HOME"]).resolve()
    production(home, wrong=True)
    ws, repo = Workspace(), GitRepo.default(home)
    strict = "  performance: {metric: accuracy, below: 0.9, min_labels: 150, window: 1h}\n"
    loop = ContinuousTraining(ws, repo, home, parse_policy("ct.yaml", policy_with(project, strict)))
    # 120 labels joined, fewer than min_labels: accuracy 0 is not evidence enough yet.
    assert loop.fired(T0 + timedelta(minutes=40), CtState()) == []
    enough = "  performance: {metric: accuracy, below: 0.9, min_labels: 100, window: 1h}\n"
    loop = ContinuousTraining(ws, repo, home, parse_policy("ct.yaml", policy_with(project, enough)))
    result = loop.check(T0 + timedelta(minutes=40))
    assert result.outcome == "deployed", result.reason
    assert result.fired is not None
    assert result.fired.trigger == "performance"
    assert result.fired.value < 0.9
    body = repo.log(["deployments"], max_count=1)[0].body
    assert "performance: accuracy on 120 labelled predictions (0 vs 0.9)" in body


def test_a_failing_gate_is_sent_to_the_policy_webhooks(project: Path) -> None:
    home = Path(os.environ["SLIPWAY_HOME"]).resolve()
    production(home)
    (project / "pipelines" / "train.yaml").write_text(PIPELINE.replace("bad: 0}", "bad: 1}"))
    receiver = Receiver()
    server, url = receiver.serve()
    try:
        policy = POLICY.format(project=project) + f"notify: [{{name: ml-team, url: '{url}'}}]\n"
        ws, repo = Workspace(), GitRepo.default(home)
        result = ContinuousTraining(ws, repo, home, parse_policy("ct.yaml", policy)).check(
            T0 + timedelta(hours=1)
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.outcome == "gate_failed"
    assert len(receiver.bodies) == 1
    alert = receiver.bodies[0]["alerts"][0]  # type: ignore[index]
    assert alert["labels"]["alertname"] == "SlipwayRetrainFailed"
    assert alert["labels"]["deployment"] == "bc"
    assert "gate" in alert["annotations"]["description"]
    actions = [e.action for e in ws.store.audit.search(entity_type="deployment")]
    assert "ct.notified" in actions
