"""Monitoring in remote mode: the HTML report, image drift and the SDK's ``drift_over_time``
computed by the server over its own prediction log, the same as locally."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from slipway.core.http import NotAvailableRemotely
from slipway.core.settings import Settings
from slipway.monitoring.images import ImageDriftReport, image_drift_over_time
from slipway.monitoring.monitor import WindowDrift, drift_over_time
from slipway.monitoring.profile import attach_profile, compute_profile
from slipway.monitoring.report import build_report, report_sections
from slipway.monitoring.watch import check_alerts
from slipway.registry import RegistryClient
from slipway.serving.predlog import PredictionLog, PredictionRecord
from slipway.store.remote_ops import api_session
from slipway.store.remote_ops import images as remote_images
from slipway.tracking import TrackingClient
from slipway.workspace import Workspace
from tests.integration.remote.cli import cli_env as _env
from tests.integration.remote.cli import ok as _ok
from tests.integration.remote.cli import run_cli as _cli
from tests.integration.remote.cli import unique as _unique
from tests.integration.remote.server import RemoteServer

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _server_side(server: RemoteServer) -> Workspace:
    """The server's own store, artifacts and home, opened locally (what it computes with)."""
    home = server.api.home
    return Workspace(server.api.tracking_uri, server.artifact_uri, settings=Settings(home=home))


def _log(root: Path, records: list[PredictionRecord]) -> None:
    log = PredictionLog(root)
    log.start()
    for record in records:
        assert log.submit(record)
    log.close()


@pytest.fixture
def classifier(remote_workspace: Workspace) -> tuple[str, pd.DataFrame]:
    """A classifier registered over the API with a reference profile attached over the API."""
    name = _unique("clf")
    tracking, registry = TrackingClient(remote_workspace), RegistryClient(remote_workspace)
    exp = tracking.create_experiment(_unique("remote-monitoring"))
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"tenure": rng.normal(10, 2, 300), "spend": rng.normal(50, 5, 300)})
    y = (x["tenure"] > 10).astype(int)
    run = tracking.create_run(exp.experiment_id)
    tracking.log_model(run.run_id, LogisticRegression().fit(x, y))
    registry.register_model(f"runs:/{run.run_id}/model", name)
    reference = x.assign(label=y)
    attach_profile(remote_workspace, name, 1, compute_profile(reference, prediction="label"))
    return name, reference


def _prediction_records(deployment: str, model: str) -> list[PredictionRecord]:
    """Two hours of version 1: the first like the reference, the second shifted."""
    rng = np.random.default_rng(1)
    records = []
    for i in range(200):
        shift = 0.0 if i < 100 else 8.0
        tenure = float(rng.normal(10 + shift, 2))
        records.append(
            PredictionRecord(
                request_id=f"r{i}",
                time_ms=int((T0 + timedelta(seconds=36 * i)).timestamp() * 1000),
                deployment=deployment,
                model_name=model,
                model_version=1,
                route="champion",
                latency_ms=1.0,
                status=200,
                inputs={"tenure": [tenure], "spend": [float(rng.normal(50, 5))]},
                outputs={"label": [int(tenure > 10)]},
            )
        )
    return records


def test_drift_over_time_through_a_remote_workspace_is_the_servers(
    remote_server: RemoteServer,
    remote_workspace: Workspace,
    classifier: tuple[str, pd.DataFrame],
    tmp_path: Path,
) -> None:
    model, _ = classifier
    deployment = _unique("churn")
    assert drift_over_time(remote_workspace, deployment) == []  # nothing logged yet

    _log(remote_server.api.home / "logs", _prediction_records(deployment, model))
    remote = drift_over_time(remote_workspace, deployment, window="1h")
    local = drift_over_time(_server_side(remote_server), deployment, window="1h")
    assert [w.rows for w in remote] == [100, 100]
    assert remote == local
    assert not remote[0].features.drifted
    assert [c.column for c in remote[1].features.columns if c.drifted] == ["tenure"]
    assert remote[0].prediction is not None
    assert [WindowDrift.from_dict(w.as_dict()) for w in remote] == remote

    since = drift_over_time(remote_workspace, deployment, since=T0 + timedelta(hours=1))
    assert [w.start for w in since] == [T0 + timedelta(hours=1)]
    assert drift_over_time(remote_workspace, deployment, every_n=50) == drift_over_time(
        _server_side(remote_server), deployment, every_n=50
    )

    # The CLI prints the same windows (one rebuilding of the server's answer for both).
    env = _env(remote_server, remote_server.tokens["tester"], tmp_path / "client-home")
    printed = json.loads(_ok(env, "monitor", "drift", deployment, "--json"))
    assert printed == [w.as_dict() for w in remote]
    assert "DRIFT" in _ok(env, "monitor", "drift", deployment)


def test_what_cannot_be_done_remotely_says_so(
    remote_workspace: Workspace, classifier: tuple[str, pd.DataFrame], tmp_path: Path
) -> None:
    from slipway.monitoring.drift import ColumnTest, DriftOptions

    _, reference = classifier
    with pytest.raises(NotAvailableRemotely, match="reference"):
        drift_over_time(remote_workspace, "any", reference=reference)
    options = DriftOptions(default_numerical=ColumnTest(method="psi"))
    with pytest.raises(NotAvailableRemotely, match="DriftOptions"):
        drift_over_time(remote_workspace, "any", options=options)
    with pytest.raises(NotAvailableRemotely, match="report_sections"):
        report_sections(remote_workspace, "any")
    with pytest.raises(NotAvailableRemotely, match="alerts_state"):
        build_report(remote_workspace, "any", alerts_state=tmp_path / "state.json")
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: []\n")
    with pytest.raises(NotAvailableRemotely, match="check_alerts"):
        check_alerts(remote_workspace, rules)


def test_report_is_built_by_the_server(
    remote_server: RemoteServer,
    remote_workspace: Workspace,
    classifier: tuple[str, pd.DataFrame],
    tmp_path: Path,
) -> None:
    env = _env(remote_server, remote_server.tokens["tester"], tmp_path / "client-home")
    empty = _unique("empty")
    out = tmp_path / "out" / "empty.html"
    assert "wrote" in _ok(env, "monitor", "report", empty, "-o", str(out))
    document = out.read_text()
    assert document.startswith("<!DOCTYPE html>")
    assert document.rstrip().endswith("</html>")
    assert empty in document
    assert "No data yet" in document
    assert [p.name for p in out.parent.iterdir()] == ["empty.html"]  # no temporary left
    assert not (tmp_path / "client-home").exists()

    model, _ = classifier
    deployment = _unique("churn")
    _log(remote_server.api.home / "logs", _prediction_records(deployment, model))
    document = build_report(remote_workspace, deployment, window="1h", title="Nightly")
    assert "<title>Nightly</title>" in document
    assert deployment in document
    assert "No data yet: no predictions" not in document
    assert 'class="slipway-chart"' in document


def _detector_records(deployment: str, start: datetime, n: int, brightness: float) -> list[Any]:
    rng = np.random.default_rng(int(brightness))
    return [
        PredictionRecord(
            request_id=f"{start:%H%M}-{i}",
            time_ms=int((start + timedelta(seconds=10 * i)).timestamp() * 1000),
            deployment=deployment,
            model_name="detector",
            model_version=1,
            route="champion",
            latency_ms=5.0,
            status=200,
            inputs={"image_bytes": [int(rng.integers(50_000, 60_000))]},
            outputs={
                "width": [512],
                "height": [512],
                "brightness": [float(rng.normal(brightness, 5))],
                "contrast": [float(rng.normal(60, 5))],
                "num_detections": [1],
                "detections": [json.dumps([{"label": "face", "score": 0.9, "box": [0, 0, 9, 9]}])],
            },
        )
        for i in range(n)
    ]


def test_image_drift_is_computed_by_the_server(
    remote_server: RemoteServer, remote_workspace: Workspace, tmp_path: Path
) -> None:
    env = _env(remote_server, remote_server.tokens["tester"], tmp_path / "client-home")
    deployment = _unique("detector")
    empty = _cli(env, "monitor", "images", deployment, "--reference-until", "1h")
    assert empty.returncode != 0
    assert "no served predictions" in empty.stdout + empty.stderr
    assert "Traceback" not in empty.stderr
    refused = _cli(
        env, "monitor", "images", deployment, "--reference-until", "1h",
        "--log-dir", str(tmp_path),
    )  # fmt: skip
    assert refused.returncode != 0
    assert "--log-dir" in refused.stdout + refused.stderr
    assert "remote mode" in refused.stdout + refused.stderr

    logs = remote_server.api.home / "logs"
    later = T0 + timedelta(hours=1)
    _log(logs, _detector_records(deployment, T0, 60, brightness=150))
    _log(logs, _detector_records(deployment, later, 60, brightness=40))
    until = later.isoformat()
    local = image_drift_over_time(logs, deployment, reference_until=later, window="1h")
    printed = json.loads(
        _ok(env, "monitor", "images", deployment, "--reference-until", until, "--json")
    )
    assert printed == json.loads(json.dumps(local.as_dict()))
    assert [w["images"] for w in printed["windows"]] == [60]
    assert "brightness" in printed["windows"][0]["drifted_columns"]
    table = _ok(env, "monitor", "images", deployment, "--reference-until", until)
    assert "brightness" in table
    assert "reference: 60 images" in table

    session = api_session(remote_workspace.store)
    assert session is not None
    doc = remote_images(session, deployment, reference_until=later)
    assert ImageDriftReport.from_dict(doc).as_dict() == printed


def test_a_viewer_reads_and_no_token_is_refused(remote_server: RemoteServer) -> None:
    _, viewer = remote_server.api.issue("vic", "viewer")
    deployment = _unique("svc")
    until = "2030-01-01T00:00:00Z"
    with httpx.Client(
        base_url=remote_server.url + "/api/v1",
        timeout=60,
        headers={"Authorization": f"Bearer {viewer}"},
    ) as client:
        answer = client.get(f"/monitoring/{deployment}/report", params={"window": "1d"})
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/html")
        assert deployment in answer.text
        images = client.get(f"/monitoring/{deployment}/images", params={"reference_until": until})
        assert images.status_code == 400
        assert "no served predictions" in images.json()["error"]["message"]
        naive = client.get(
            f"/monitoring/{deployment}/images", params={"reference_until": "2030-01-01T00:00:00"}
        )
        assert naive.status_code == 400
        assert "reference_until" in naive.json()["error"]["message"]
        bad = client.get(f"/monitoring/{deployment}/report", params={"window": "0h"})
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "invalid_input"
        malformed = client.get(f"/monitoring/{deployment}/report", params={"window": "hourly"})
        assert malformed.status_code == 422
        assert "error" in malformed.json()
    with httpx.Client(base_url=remote_server.url + "/api/v1", timeout=30) as anonymous:
        for path, params in (
            (f"/monitoring/{deployment}/report", {}),
            (f"/monitoring/{deployment}/images", {"reference_until": until}),
        ):
            refused = anonymous.get(path, params=params)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "unauthenticated"
