"""A registry with two versions of a real model, and real ``slipway serve`` processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier

from slipway.registry import RegistryClient
from slipway.tracking import TrackingClient
from slipway.workspace import Workspace

ADMIN_TOKEN = "test-admin-token"
MODEL = "bc"


@dataclass(frozen=True)
class Registry:
    home: Path
    tracking_uri: str
    artifact_uri: str
    data: pd.DataFrame
    models: dict[int, GradientBoostingClassifier]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
        env.update(
            SLIPWAY_HOME=str(self.home),
            SLIPWAY_TRACKING_URI=self.tracking_uri,
            SLIPWAY_ARTIFACT_URI=self.artifact_uri,
            SLIPWAY_SERVE_ADMIN_TOKEN=ADMIN_TOKEN,
        )
        return env


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """Two versions of a GradientBoostingClassifier on breast cancer; champion is version 1."""
    home = tmp_path_factory.mktemp("serving-home")
    uri = f"sqlite:///{home / 'meta.db'}"
    from slipway.store import migrate
    from slipway.store.engine import create_sql_engine

    engine = create_sql_engine(uri)
    migrate.upgrade(engine)
    engine.dispose()
    ws = Workspace(uri, (home / "artifacts").as_uri())
    tracking, registry = TrackingClient(ws), RegistryClient(ws)
    data = load_breast_cancer(as_frame=True)
    x, y = data.data, data.target
    models = {}
    exp = tracking.create_experiment("serving")
    for version, trees in ((1, 20), (2, 5)):
        model = GradientBoostingClassifier(n_estimators=trees, max_depth=2, random_state=0)
        model.fit(x, y)
        run = tracking.create_run(exp.experiment_id)
        tracking.log_model(run.run_id, model, input_example=x.head(3))
        registry.register_model(f"runs:/{run.run_id}/model", MODEL)
        models[version] = model
    registry.set_alias(MODEL, "champion", 1)
    ws.close()
    return Registry(home, uri, (home / "artifacts").as_uri(), x, models)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log_dir: Path
    output_file: Path

    def output(self) -> str:
        """What the server printed (stdout and stderr)."""
        return self.output_file.read_text(errors="replace")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


def start_server(
    registry: Registry, tmp: Path, *args: str, env: dict[str, str] | None = None
) -> Server:
    port = free_port()
    log_dir = tmp / "predlog"
    full_env = registry.env() | {"SLIPWAY_SERVE_LOG_DIR": str(log_dir)} | (env or {})
    output = tmp / f"server-{port}.out"
    with output.open("wb") as sink:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen(
            [sys.executable, "-m", "slipway.cli.main", "serve", *args, "--port", str(port)],
            env=full_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_dir, output)
    deadline = time.monotonic() + 90
    with httpx.Client(base_url=server.url, timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{server.output()}")
            try:
                if client.get("/v2/health/ready").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    server.stop(signal.SIGKILL)
    raise RuntimeError("server did not become ready in 90 s")


@pytest.fixture
def serve(registry: Registry, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers for a test; every one is stopped afterwards, whatever happens."""
    started: list[Server] = []

    def _start(*args: str, env: dict[str, str] | None = None) -> Server:
        server = start_server(registry, tmp_path, *args, env=env)
        started.append(server)
        return server

    yield _start
    for server in started:
        if server.process.poll() is None:
            server.stop(signal.SIGKILL)
