"""Three versions of a real model, a GitOps repository, a bounded load, and cleanup that stops
every server process a test started, whatever happened."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import psutil
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from slipway.deploy.spec import ModelPin
from slipway.deploy.supervisor import MARKER_STATE
from slipway.registry import RegistryClient
from slipway.tracking import TrackingClient
from slipway.workspace import Workspace

MODEL = "bc"


@dataclass(frozen=True)
class Models:
    tracking_uri: str
    artifact_uri: str
    data: pd.DataFrame
    pins: dict[int, ModelPin]
    """1 and 2: good classifiers that agree; 3: a worse one that answers "1" for nearly all."""


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    from slipway.store import migrate
    from slipway.store.engine import create_sql_engine

    root = tmp_path_factory.mktemp("gitops-registry")
    uri = f"sqlite:///{root / 'meta.db'}"
    engine = create_sql_engine(uri)
    migrate.upgrade(engine)
    engine.dispose()
    ws = Workspace(uri, (root / "artifacts").as_uri())
    tracking, client = TrackingClient(ws), RegistryClient(ws)
    data = load_breast_cancer(as_frame=True)
    x, y = data.data, data.target
    worse = np.where(np.arange(len(y)) % 25 == 0, 0, 1)  # learns "always 1"
    exp = tracking.create_experiment("gitops")
    pins = {}
    for version, (labels, c) in enumerate(((y, 1.0), (y, 0.5), (worse, 1.0)), start=1):
        model = LogisticRegression(C=c, max_iter=5000).fit(x, labels)
        run = tracking.create_run(exp.experiment_id)
        tracking.log_model(run.run_id, model, input_example=x.head(3))
        mv = client.register_model(f"runs:/{run.run_id}/model", MODEL)
        pins[version] = ModelPin(
            name=MODEL, version=mv.version, digest=f"sha256:{mv.manifest_digest}"
        )
    ws.close()
    return Models(uri, (root / "artifacts").as_uri(), x, pins)


@pytest.fixture
def home(models: Models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """SLIPWAY_HOME for the test (GitOps repo, deploy state, prediction logs) on the shared
    registry; afterwards every server started under it is killed."""
    home = (tmp_path / "home").resolve()
    monkeypatch.setenv("SLIPWAY_HOME", str(home))
    monkeypatch.setenv("SLIPWAY_TRACKING_URI", models.tracking_uri)
    monkeypatch.setenv("SLIPWAY_ARTIFACT_URI", models.artifact_uri)
    try:
        yield home
    finally:
        for process in servers(home):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)


def servers(home: Path) -> list[psutil.Process]:
    """Live server processes started by a local target under ``home``."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARKER_STATE, "").startswith(str(home)) and (
                process.status() != psutil.STATUS_ZOMBIE
            ):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


@dataclass
class Load:
    """Sequential /predict requests from one thread until stopped (at most ``limit``)."""

    url: str
    rows: list[dict[str, float]]
    limit: int = 20_000
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        with httpx.Client(timeout=10) as http:
            for i in range(self.limit):
                if self._stop.is_set():
                    return
                try:
                    response = http.post(self.url, json=[self.rows[i % len(self.rows)]])
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code} {response.text[:200]}")
                    continue
                self.ok += 1
                version = response.headers.get("x-slipway-model-version", "?")
                self.versions[version] = self.versions.get(version, 0) + 1
                time.sleep(0.002)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)


@pytest.fixture
def load_rows(models: Models) -> list[dict[str, float]]:
    rng = np.random.default_rng(0)
    picked = models.data.iloc[rng.permutation(len(models.data))[:200]]
    return [{k: float(v) for k, v in row.items()} for row in picked.to_dict("records")]


def wait_for(predicate: object, timeout: float, what: str, poll: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def env_for_children() -> dict[str, str]:
    return dict(os.environ)
