"""The monitoring commands as a user runs them, on a prediction log written by the server's
own writer under SLIPWAY_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from slipway.serving.predlog import PredictionLog, PredictionRecord

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def slipway(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slipway.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
        timeout=120,
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A binary classifier's log over two hours (version 1), 100 requests an hour."""
    home = Path(os.environ["SLIPWAY_HOME"])
    log = PredictionLog(home / "logs")
    log.start()
    rng = np.random.default_rng(0)
    for i in range(200):
        p = float(rng.uniform())
        log.submit(
            PredictionRecord(
                request_id=f"r{i}",
                time_ms=int((T0 + timedelta(seconds=36 * i)).timestamp() * 1000),
                deployment="churn",
                model_name="churn",
                model_version=1,
                route="champion",
                latency_ms=1.0,
                status=200,
                inputs={"tenure": [float(i)]},
                outputs={"label": [int(p > 0.5)], "score": [p]},
            )
        )
    log.close()
    return home


def test_labels_ingest_then_performance(home: Path, tmp_path: Path) -> None:
    labels = pd.DataFrame(
        {"request_id": [f"r{i}" for i in range(0, 200, 2)] + ["ghost"], "label": [1] * 100 + [0]}
    )
    path = tmp_path / "labels.parquet"
    labels.to_parquet(path)
    result = slipway("labels", "ingest", "churn", str(path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["received"] == 101
    assert report["unknown"] == 1
    assert report["unknown_request_ids"] == ["ghost"]
    human = slipway("labels", "ingest", "churn", str(path))
    assert human.returncode == 0, human.stderr
    result = slipway("monitor", "performance", "churn", "--window", "1h", "--json")
    assert result.returncode == 0, result.stderr
    windows = json.loads(result.stdout)["windows"]
    assert [w["predictions"] for w in windows] == [100, 100]
    assert [w["coverage"] for w in windows] == [0.5, 0.5]
    table = slipway("monitor", "performance", "churn", "--window", "1h")
    assert table.returncode == 0, table.stderr
    assert "accuracy" in table.stdout


def test_bad_labels_are_refused_and_nothing_is_stored(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("id,label\nr1,1\n")
    result = slipway("labels", "ingest", "churn", str(path))
    assert result.returncode == 1
    assert "request_id" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (home / "labels" / "churn").exists() or not list(
        (home / "labels" / "churn").rglob("*.parquet")
    )


def test_export_prometheus_rules_and_grafana(tmp_path: Path) -> None:
    rules, dashboard = tmp_path / "rules.yaml", tmp_path / "dashboard.json"
    result = slipway(
        "monitor", "export", "churn", "--prometheus-rules", str(rules), "--grafana", str(dashboard)
    )
    assert result.returncode == 0, result.stderr
    groups = yaml.safe_load(rules.read_text())["groups"]
    assert any(r.get("alert") == "SlipwayHighErrorRate" for g in groups for r in g["rules"])
    assert json.loads(dashboard.read_text())["panels"]
    nothing = slipway("monitor", "export", "churn")
    assert nothing.returncode == 1
    assert "nothing to write" in nothing.stderr


def test_drift_per_window_against_the_stored_profile(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    import slipway as sw
    from slipway.monitoring.profile import attach_profile, compute_profile
    from slipway.workspace import Workspace

    home = Path(os.environ["SLIPWAY_HOME"])
    rng = np.random.default_rng(1)
    train = pd.DataFrame(
        {"amount": rng.normal(50, 10, 3000), "country": rng.choice(["fr", "de"], 3000)}
    )
    y = (train["amount"] > 50).astype(int).to_numpy()
    with sw.start_run():
        model = LogisticRegression().fit(train[["amount"]], y)
        logged = sw.log_model(model, "model")
    version = sw.register_model(logged.model_uri, "fraud").version
    ws = Workspace()
    attach_profile(ws, "fraud", version, compute_profile(train, prediction=y))
    log = PredictionLog(home / "logs")
    log.start()
    for i in range(1200):  # two hours; the second one shifted, with a new country
        shifted = i >= 600
        amount = float(rng.normal(80 if shifted else 50, 10))
        country = str(rng.choice(["fr", "de", "us"] if shifted else ["fr", "de"]))
        log.submit(
            PredictionRecord(
                f"r{i}",
                int((T0 + timedelta(seconds=6 * i)).timestamp() * 1000),
                "fraud",
                "fraud",
                version,
                "champion",
                1.0,
                200,
                {"amount": [amount], "country": [country]},
                {"label": [int(amount > 50)]},
            )
        )
    log.close()
    result = slipway("monitor", "drift", "fraud", "--window", "1h", "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert [w["rows"] for w in found] == [600, 600]
    assert [w["features"]["drifted"] for w in found] == [False, True]
    drifted = {c["column"] for c in found[1]["features"]["columns"] if c["drifted"]}
    assert drifted == {"amount", "country"}
    assert found[0]["prediction"]["drifted"] is False
    assert found[1]["prediction"]["drifted"] is True
    table = slipway("monitor", "drift", "fraud", "--window", "1h")
    assert "DRIFT" in table.stdout, table.stderr
    missing = slipway("monitor", "drift", "nobody")
    assert missing.returncode == 0
    bad = slipway("monitor", "drift", "fraud", "--window", "1w")
    assert bad.returncode == 1
    assert "invalid window" in bad.stderr


def test_report_command_writes_an_offline_page(tmp_path: Path) -> None:
    output = tmp_path / "r.html"
    result = slipway("monitor", "report", "nobody", "-o", str(output))
    assert result.returncode == 0, result.stderr
    text = output.read_text()
    assert "No data yet" in text
    assert "<script src=" not in text
