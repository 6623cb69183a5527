"""The GitOps and monitoring commands in remote mode: every one goes through the server's API
(its git repository, its prediction log and labels), as the token's owner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from slipway.registry import RegistryClient
from slipway.tracking import TrackingClient
from slipway.workspace import Workspace
from tests.integration.remote.cli import as_json as _json
from tests.integration.remote.cli import cli_env as _env
from tests.integration.remote.cli import ok as _ok
from tests.integration.remote.cli import run_cli as _cli
from tests.integration.remote.cli import unique as _unique
from tests.integration.remote.server import RemoteServer


@pytest.fixture
def model(remote_workspace: Workspace) -> str:
    """Two versions of a tiny classifier, registered over the API (the SDK in remote mode)."""
    name = _unique("clf")
    tracking, registry = TrackingClient(remote_workspace), RegistryClient(remote_workspace)
    exp = tracking.create_experiment(_unique("remote-cli"))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] > 0).astype(int)
    for c in (1.0, 0.5):
        run = tracking.create_run(exp.experiment_id)
        tracking.log_model(run.run_id, LogisticRegression(C=c).fit(x, y))
        registry.register_model(f"runs:/{run.run_id}/model", name)
    return name


@pytest.fixture
def client_home(tmp_path: Path) -> Path:
    return tmp_path / "client-home"


def test_deploy_history_rollback_status_through_the_server(
    remote_server: RemoteServer, model: str, client_home: Path
) -> None:
    env = _env(remote_server, remote_server.tokens["alice"], client_home)
    name = _unique("svc")
    first = _json(
        env, "deploy", name, "--model", f"models:/{model}/1", "--target", "kubernetes",
        "-m", "first model",
    )  # fmt: skip
    assert first["applied_by"] == "server"
    assert first["status"] is not None, first  # the server reconciled the commit
    assert first["status"]["observed"]["champion"] == f"models:/{model}/1"
    second = _ok(
        env, "deploy", name, "--model", f"models:/{model}/2", "--target", "kubernetes",
        "-m", "better recall",
    )  # fmt: skip
    assert "committed" in second
    assert f"models:/{model}/2" in second  # the status table of the reconciled deployment

    entries = _json(env, "history", name)
    assert [(e["model"], e["action"], e["reason"]) for e in entries] == [
        (f"models:/{model}/2", "deploy", "better recall"),
        (f"models:/{model}/1", "deploy", "first model"),
    ]
    assert all(e["author"].startswith("alice") for e in entries)  # the token's owner
    assert "better recall" in _ok(env, "history", name)

    back = _json(env, "rollback", name, "-m", "support tickets")
    assert back["status"]["observed"]["champion"] == f"models:/{model}/1"
    [status] = _json(env, "deployments", "status", name)
    assert status["observed"]["champion"] == f"models:/{model}/1"
    assert name in _ok(env, "deployments", "status")
    actions = [e["action"] for e in _json(env, "history", name)]
    assert actions == ["rollback", "deploy", "deploy"]
    mine = [i for i in _json(env, "models", "timeline", model) if i["deployment"] == name]
    assert [(i["version"], i["end"] is None) for i in mine] == [(1, False), (2, False), (1, True)]

    gone = _ok(env, "undeploy", name, "-m", "retired")
    assert "committed" in gone
    assert _json(env, "history", name)[0]["action"] == "delete"
    assert not client_home.exists()  # nothing local: no repository, no state


def test_local_only_options_are_refused_remotely(
    remote_server: RemoteServer, model: str, client_home: Path, tmp_path: Path
) -> None:
    env = _env(remote_server, remote_server.tokens["alice"], client_home)
    for args in (
        ("deploy", "x", "--model", f"models:/{model}/1", "--repo", str(tmp_path)),
        ("deploy", "x", "--model", f"models:/{model}/1", "--author", "Eve <e@example.com>"),
        ("rollback", "x", "--repo", str(tmp_path)),
        ("history", "--repo", str(tmp_path)),
    ):
        refused = _cli(env, *args)
        assert refused.returncode != 0, args
        assert "remote mode" in refused.stdout + refused.stderr, refused.stdout


def test_a_viewer_may_not_deploy(
    remote_server: RemoteServer, model: str, client_home: Path
) -> None:
    _, viewer = remote_server.api.issue("victor", "viewer")
    env = _env(remote_server, viewer, client_home)
    name = _unique("svc")
    refused = _cli(env, "deploy", name, "--model", f"models:/{model}/1", "--target", "kubernetes")
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "viewer" in out
    assert "deployer" in out
    assert viewer not in out
    assert _json(env, "history", name) == []  # nothing was committed


def test_labels_and_monitoring_go_to_the_server(
    remote_server: RemoteServer, remote_workspace: Workspace, client_home: Path, tmp_path: Path
) -> None:
    env = _env(remote_server, remote_server.tokens["tester"], client_home)
    name = _unique("mon")
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label,comment\nr1,1,x\nr2,0,y\n")
    report = _json(env, "labels", "ingest", name, str(labels))
    assert report["received"] == 2
    assert report["stored"] == 2
    assert report["unknown"] == 2  # no such predictions in the server's log (yet)
    assert report["ignored_columns"] == ["comment"]
    assert report["path"].startswith(str(remote_server.api.home))  # stored on the server
    again = _json(env, "labels", "ingest", name, str(labels))
    assert again["stored"] + again["unchanged"] == 2
    assert "unknown" in _ok(env, "labels", "ingest", name, str(labels))

    assert _json(env, "monitor", "drift", name, "--window", "1h") == []
    empty = _ok(env, "monitor", "drift", name, "--window", "1h")
    assert "no predictions" in empty
    performance = _json(env, "monitor", "performance", name)
    assert performance["deployment"] == name
    assert performance["windows"] == []
    assert not client_home.exists()

    _, viewer = remote_server.api.issue("vera", "viewer")
    refused = _cli(_env(remote_server, viewer, client_home), "labels", "ingest", name, str(labels))
    assert refused.returncode != 0
    assert "data-scientist" in refused.stdout + refused.stderr
