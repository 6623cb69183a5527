"""A registry with three versions of a small model, deployment files, and targets whose
server processes are all stopped afterwards, whatever the test did."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psutil
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier

from slipway.deploy.local import LocalTarget
from slipway.deploy.spec import DeploymentFile, ModelPin
from slipway.deploy.supervisor import MARKER_STATE
from slipway.registry import RegistryClient
from slipway.tracking import TrackingClient
from slipway.workspace import Workspace

MODEL = "bc"
ENVIRONMENT = "test"


@dataclass(frozen=True)
class Registry:
    home: Path
    tracking_uri: str
    artifact_uri: str
    data: pd.DataFrame
    pins: dict[int, ModelPin]

    def env(self) -> dict[str, str]:
        """What the servers see: this registry, and none of the caller's Slipway settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
        env.update(
            SLIPWAY_HOME=str(self.home),
            SLIPWAY_TRACKING_URI=self.tracking_uri,
            SLIPWAY_ARTIFACT_URI=self.artifact_uri,
            SLIPWAY_SERVE_LOG_PREDICTIONS="false",  # not under test; saves CPU on 2 cores
        )
        return env


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """Versions 1, 2 and 3 of a small classifier on breast cancer, each with an input example
    (smoke tests predict it)."""
    from slipway.store import migrate
    from slipway.store.engine import create_sql_engine

    home = tmp_path_factory.mktemp("deploy-home")
    uri = f"sqlite:///{home / 'meta.db'}"
    engine = create_sql_engine(uri)
    migrate.upgrade(engine)
    engine.dispose()
    ws = Workspace(uri, (home / "artifacts").as_uri())
    tracking, client = TrackingClient(ws), RegistryClient(ws)
    data = load_breast_cancer(as_frame=True)
    x, y = data.data, data.target
    exp = tracking.create_experiment("deploy")
    pins = {}
    for version, trees in ((1, 3), (2, 4), (3, 5)):
        model = GradientBoostingClassifier(n_estimators=trees, max_depth=2, random_state=0)
        model.fit(x, y)
        run = tracking.create_run(exp.experiment_id)
        tracking.log_model(run.run_id, model, input_example=x.head(3))
        mv = client.register_model(f"runs:/{run.run_id}/model", MODEL)
        assert mv.version == version
        pins[version] = ModelPin(name=MODEL, version=version, digest=f"sha256:{mv.manifest_digest}")
    ws.close()
    return Registry(home, uri, (home / "artifacts").as_uri(), x, pins)


DeploymentFactory = Callable[..., DeploymentFile]


@pytest.fixture(scope="session")
def deployment(registry: Registry) -> DeploymentFactory:
    """``deployment(name, version=1, replicas=1, port=None, max_batch_size=64)``."""

    def make(
        name: str,
        version: int = 1,
        *,
        replicas: int = 1,
        port: int | None = None,
        max_batch_size: int = 64,
    ) -> DeploymentFile:
        return DeploymentFile.model_validate(
            {
                "apiVersion": "slipway.dev/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "environment": ENVIRONMENT},
                "spec": {
                    "model": registry.pins[version].model_dump(),
                    "target": {"kind": "local", "port": port},
                    "replicas": replicas,
                    "batching": {"max_batch_size": max_batch_size, "max_latency_ms": 1.0},
                },
            }
        )

    return make


def marked_processes(home: Path) -> list[psutil.Process]:
    """Live server processes started for any deployment under ``home``."""
    found = []
    for process in psutil.process_iter():
        try:
            owner = process.environ().get(MARKER_STATE, "")
            if owner.startswith(str(home)) and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def stop_everything(target: LocalTarget, home: Path) -> None:
    """Delete every deployment, then SIGKILL whatever marked process is left."""
    for name in target.names():
        with suppress(Exception):  # teardown: the kill below still runs
            target.delete(name)
    for process in marked_processes(home):
        with suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGKILL)


def local_target(registry: Registry, home: Path) -> LocalTarget:
    return LocalTarget(home, ENVIRONMENT, env=registry.env(), ready_timeout_s=60, stop_timeout_s=10)


@pytest.fixture
def target_home(tmp_path: Path) -> Path:
    return (tmp_path / "agent").resolve()


@pytest.fixture
def local(registry: Registry, target_home: Path) -> Iterator[LocalTarget]:
    """A local target in a fresh home; every process it started is stopped afterwards."""
    target = local_target(registry, target_home)
    try:
        yield target
    finally:
        stop_everything(target, target_home)
