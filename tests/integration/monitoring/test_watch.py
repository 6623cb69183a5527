"""The agent's monitor look: rule values from a real prediction log and stored profile,
notifications to a real receiver on 127.0.0.1, de-duplicated across looks."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import slipway as sw
from slipway.monitoring.alerts import parse_rules
from slipway.monitoring.profile import attach_profile, compute_profile
from slipway.monitoring.watch import check_alerts, observe
from slipway.serving.predlog import PredictionLog, PredictionRecord
from slipway.workspace import Workspace

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", received
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def drifting() -> Workspace:
    """A version with a stored profile; two hours of log, the second one shifted, 1 % errors."""
    home = Path(os.environ["SLIPWAY_HOME"])
    rng = np.random.default_rng(2)
    train = pd.DataFrame(
        {"amount": rng.normal(50, 10, 2000), "country": rng.choice(["fr", "de"], 2000)}
    )
    y = (train["amount"] > 50).astype(int).to_numpy()
    with sw.start_run():
        logged = sw.log_model(LogisticRegression().fit(train[["amount"]], y), "model")
    version = sw.register_model(logged.model_uri, "fraud").version
    ws = Workspace()
    attach_profile(ws, "fraud", version, compute_profile(train, prediction=y))
    log = PredictionLog(home / "logs")
    log.start()
    for i in range(1200):
        shifted = i >= 600
        amount = float(rng.normal(80 if shifted else 50, 10))
        status = 500 if i % 50 == 0 else 200
        log.submit(
            PredictionRecord(
                f"r{i}", int((T0 + timedelta(seconds=6 * i)).timestamp() * 1000), "fraud",
                "fraud", version, "champion", 2.0 + i % 10, status,
                {"amount": [amount], "country": [str(rng.choice(["fr", "de"]))]},
                None if status == 500 else {"label": [int(amount > 50)]},
                None if status == 200 else "boom",
            )
        )  # fmt: skip
    log.close()
    return ws


RULES = """
apiVersion: slipway.dev/v1
kind: AlertRules
rules:
  - name: fraud-drift
    deployment: fraud
    kind: drift_share
    window: 1h
    above: 0.3
    notify: [ops]
  - name: fraud-amount
    deployment: fraud
    kind: feature_drift
    feature: amount
    window: 1h
    above: 0.1
    notify: [ops]
  - name: fraud-errors
    deployment: fraud
    kind: slo
    slo: error_rate
    window: 1h
    above: 0.05
    notify: [ops]
  - name: fraud-accuracy
    deployment: fraud
    kind: performance
    metric: accuracy
    below: 0.9
    min_labels: 100
    notify: [ops]
receivers:
  - {{name: ops, url: "{url}"}}
"""


def test_drift_fires_once_and_no_data_never_fires(
    drifting: Workspace, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    rules = parse_rules("alerts.yaml", RULES.format(url=url))
    calm = T0 + timedelta(hours=1)  # the first, unshifted hour
    assert observe(drifting, rules.rules[0], calm).value == 0.0
    errors = observe(drifting, rules.rules[2], calm)
    assert errors.value == pytest.approx(0.02, abs=0.005)
    assert observe(drifting, rules.rules[3], calm).value is None  # no labels: no data
    assert check_alerts(drifting, rules, now=calm) == []
    later = T0 + timedelta(hours=2)
    results = check_alerts(drifting, rules, now=later)
    assert sorted(r.status for r in results) == ["firing", "firing"]
    assert all(r.delivered for r in results)
    names = sorted(a["labels"]["alertname"] for p in received for a in p["alerts"])
    assert names == ["fraud-amount", "fraud-drift"]
    assert check_alerts(drifting, rules, now=later + timedelta(minutes=1)) == []  # de-duplicated
    state = json.loads((Path(os.environ["SLIPWAY_HOME"]) / "alerts" / "state.json").read_text())
    assert "fraud-drift" in json.dumps(state)
