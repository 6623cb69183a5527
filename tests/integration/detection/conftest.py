"""A registry holding the imported MediaPipe detector, and real ``slipway serve`` processes."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from slipway.registry import RegistryClient
from slipway.registry.importers import import_mediapipe_detector
from slipway.workspace import Workspace
from tests.integration.serving.conftest import Server, start_server
from tests.unit.detection.weights import require_mediapipe

MODEL = "detector"


@dataclass(frozen=True)
class DetectorRegistry:
    home: Path
    tracking_uri: str
    artifact_uri: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
        env.update(
            SLIPWAY_HOME=str(self.home),
            SLIPWAY_TRACKING_URI=self.tracking_uri,
            SLIPWAY_ARTIFACT_URI=self.artifact_uri,
            SLIPWAY_SERVE_ADMIN_TOKEN="test-admin-token",
        )
        return env


@pytest.fixture(scope="session")
def detector_registry(tmp_path_factory: pytest.TempPathFactory) -> DetectorRegistry:
    """Version 1: face short-range + palm + pose (champion); version 2: face full-range."""
    require_mediapipe()
    home = tmp_path_factory.mktemp("detector-home")
    uri = f"sqlite:///{home / 'meta.db'}"
    from slipway.store import migrate
    from slipway.store.engine import create_sql_engine

    engine = create_sql_engine(uri)
    migrate.upgrade(engine)
    engine.dispose()
    ws = Workspace(uri, (home / "artifacts").as_uri())
    import_mediapipe_detector(MODEL, workspace=ws)
    import_mediapipe_detector(MODEL, models=["face-full"], workspace=ws)
    RegistryClient(ws).set_alias(MODEL, "champion", 1)
    ws.close()
    return DetectorRegistry(home, uri, (home / "artifacts").as_uri())


@pytest.fixture
def serve_detector(
    detector_registry: DetectorRegistry, tmp_path: Path
) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def _start(*args: str, env: dict[str, str] | None = None) -> Server:
        uri = f"models:/{MODEL}@champion"
        server = start_server(detector_registry, tmp_path, uri, *args, env=env)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield _start
    for server in started:
        if server.process.poll() is None:
            server.stop(signal.SIGKILL)
