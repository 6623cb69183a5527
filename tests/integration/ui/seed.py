"""A workspace with something on every dashboard page, built through the real SDK: runs with
params, metric histories, datasets and artifacts; two registered versions (one with a gate
report, one with a reference profile); a GitOps deployment of each version (kubernetes target,
so applying renders manifests instead of starting servers); a prediction log with drift and
labels; an alert state; and API tokens for a viewer and a deployer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

HOSTILE = "<script>alert('x')</script>"
MODEL = "fraud"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Seeded:
    home: Path
    viewer_token: str
    deployer_token: str
    run_ids: list[str]
    hostile_run_id: str


def seed(home: Path) -> Seeded:
    from sklearn.linear_model import LogisticRegression

    import slipway as sw
    from slipway.gitops.push import deploy
    from slipway.gitops.repo import GitRepo
    from slipway.monitoring.alerts import AlertState, AlertStatus, RuleState, save_state
    from slipway.monitoring.labels import ingest_labels
    from slipway.monitoring.profile import attach_profile, compute_profile
    from slipway.registry import RegistryClient
    from slipway.workspace import Workspace

    rng = np.random.default_rng(7)
    train = pd.DataFrame({"amount": rng.normal(50, 10, 400), "age": rng.normal(40, 8, 400)})
    y = (train["amount"] > 50).astype(int).to_numpy()
    sw.set_experiment("fraud-detection")
    run_ids = []
    models = []
    for i, c in enumerate((1.0, 0.1)):
        with sw.start_run(run_name=f"logreg-c{c}") as run:
            sw.log_params({"C": c, "solver": "lbfgs"})
            for step in range(5):
                sw.log_metric("loss", 1.0 / (step + 1 + i), step=step)
            model = LogisticRegression(C=c).fit(train, y)
            sw.log_metric("accuracy", float(model.score(train, y)))
            sw.set_tag("team", "risk")
            sw.log_input(train, name="transactions-2026-11")
            sw.log_text("notes", "notes.txt")
            logged = sw.log_model(model, "model", input_example=train.head(3))
            run_ids.append(run.info.run_id)
            models.append((model, logged))
    with sw.start_run(run_name=HOSTILE) as hostile:
        sw.log_param("evil", HOSTILE)
        sw.log_metric("accuracy", 0.5)
    v1 = sw.register_model(models[0][1].model_uri, MODEL).version
    v2 = sw.register_model(models[1][1].model_uri, MODEL).version
    ws = Workspace()
    registry = RegistryClient(ws)
    registry.set_alias(MODEL, "champion", v1)
    registry.set_alias(MODEL, "champion", v2)
    report = {
        "format": "slipway.gate_report/v1",
        "passed": True,
        "model_name": MODEL,
        "candidate_version": v2,
        "champion_version": v1,
        "checks": [
            {"kind": "threshold", "name": "threshold:accuracy", "passed": True, "value": 0.97,
             "comparison": ">= 0.9", "threshold": 0.9, "note": ""},
            {"kind": "champion", "name": "champion:accuracy", "passed": True, "value": 0.97,
             "comparison": ">= 0.95 (champion v1 0.96 - 0.01)", "threshold": 0.95, "note": ""},
        ],
        "metrics": {"accuracy": 0.97},
        "run_id": run_ids[1],
    }  # fmt: skip
    blob = ws.artifacts.put_bytes(json.dumps(report).encode())
    registry.set_model_version_tag(MODEL, v2, "slipway.gate_report", blob.digest)
    registry.set_model_version_tag(MODEL, v2, "slipway.gate_passed", "true")
    for version, (model, _) in zip((v1, v2), models, strict=True):
        attach_profile(ws, MODEL, version, compute_profile(train, prediction=model.predict(train)))

    repo = GitRepo.default(home)
    for version, reason in ((v1, "first release"), (v2, "better recall")):
        deploy(
            ws, repo, home, name=MODEL, model_uri=f"models:/{MODEL}/{version}",
            environment="prod", reason=reason, author="Ann <ann@example.com>",
            target="kubernetes",
        )  # fmt: skip

    _log_predictions(home, models[1][0], v2, rng)
    truth = pd.DataFrame({"request_id": [f"r{i}" for i in range(0, 600, 5)], "label": [1, 0] * 60})
    ingest_labels(home / "labels", MODEL, truth, log_root=home / "logs")
    at = T0 + timedelta(hours=2)
    save_state(
        home / "alerts" / "state.json",
        AlertState(
            {
                "fraud-drift": RuleState(
                    AlertStatus.FIRING, since=at, last_notified=at, notifications=1, value=0.5
                ),
                "fraud-accuracy": RuleState(value=0.93),
            }
        ),
    )
    viewer = ws.store.tokens.create("vera", "viewer").secret
    deployer = ws.store.tokens.create("dan", "deployer").secret
    ws.close()
    return Seeded(home, viewer, deployer, run_ids, hostile.info.run_id)


def _log_predictions(home: Path, model: object, version: int, rng: np.random.Generator) -> None:
    """Two hours of requests; the second hour's amounts shifted (drift)."""
    from slipway.serving.predlog import PredictionLog, PredictionRecord

    shifted = np.arange(600) >= 300
    amounts = np.where(shifted, rng.normal(80, 10, 600), rng.normal(50, 10, 600))
    ages = rng.normal(40, 8, 600)
    frame = pd.DataFrame({"amount": amounts, "age": ages})
    scores = model.predict_proba(frame)[:, 1]  # type: ignore[attr-defined]
    log = PredictionLog(home / "logs")
    log.start()
    for i in range(600):
        log.submit(
            PredictionRecord(
                f"r{i}",
                int((T0 + timedelta(seconds=12 * i)).timestamp() * 1000),
                MODEL,
                MODEL,
                version,
                "champion",
                1.0,
                200,
                {"amount": [float(amounts[i])], "age": [float(ages[i])]},
                {"label": [int(scores[i] > 0.5)], "score": [float(scores[i])]},
            )
        )
    log.close()
