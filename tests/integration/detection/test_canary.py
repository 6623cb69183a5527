"""The detector canaried on the local target under image load: face short-range (version 1) to
face full-range (version 2), promoted, with no failed request.

The analysis judges the error rate only: ``max_prediction_drift`` compares one prediction
column of the two versions, and a detector logs several outputs (detections, counts, sizes,
image statistics), which the check refuses as ambiguous. Image drift is the detector's own
monitor (``slipway monitor images``).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from slipway.deploy.spec import Analysis, Checks
from slipway.gitops.push import deploy
from slipway.gitops.repo import GitRepo
from slipway.registry import RegistryClient
from slipway.registry.importers import import_mediapipe_detector
from slipway.workspace import Workspace
from tests.integration.gitops.conftest import servers
from tests.unit.detection.weights import photo, require_mediapipe

MODEL = "detector"
ANALYSIS = Analysis(
    interval=2.0,
    min_samples=10,
    max_failed_checks=1,
    checks=Checks(max_error_rate=0.05, max_prediction_drift=None),
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A registry of its own (the alias moves) with the two versions; every server started
    under this SLIPWAY_HOME is killed afterwards."""
    require_mediapipe()
    from slipway.store import migrate
    from slipway.store.engine import create_sql_engine

    home = (tmp_path / "home").resolve()
    uri = f"sqlite:///{tmp_path / 'meta.db'}"
    engine = create_sql_engine(uri)
    migrate.upgrade(engine)
    engine.dispose()
    artifacts = (tmp_path / "artifacts").as_uri()
    monkeypatch.setenv("SLIPWAY_HOME", str(home))
    monkeypatch.setenv("SLIPWAY_TRACKING_URI", uri)
    monkeypatch.setenv("SLIPWAY_ARTIFACT_URI", artifacts)
    ws = Workspace(uri, artifacts)
    import_mediapipe_detector(MODEL, models=["face-short"], workspace=ws)
    import_mediapipe_detector(MODEL, models=["face-full"], workspace=ws)
    ws.close()
    try:
        yield home
    finally:
        for process in servers(home):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)


@dataclass
class ImageLoad:
    """Sequential image uploads from one thread until stopped (at most ``limit``)."""

    url: str
    images: list[bytes]
    limit: int = 5_000
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    faces: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ImageLoad:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        with httpx.Client(timeout=10) as http:
            for i in range(self.limit):
                if self._stop.wait(0.005):
                    return
                image = self.images[i % len(self.images)]
                try:
                    response = http.post(self.url, files={"image": ("i.png", image, "image/png")})
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code} {response.text[:200]}")
                    continue
                self.ok += 1
                version = response.headers.get("x-slipway-model-version", "?")
                self.versions[version] = self.versions.get(version, 0) + 1
                (prediction,) = response.json()["predictions"]
                self.faces += sum(d["label"] == "face" for d in prediction["detections"])

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)


def test_full_range_face_model_is_canaried_and_promoted(home: Path) -> None:
    ws, repo = Workspace(), GitRepo.default(home)
    first = deploy(
        ws, repo, home, name=MODEL, model_uri=f"models:/{MODEL}/1", environment="prod",
        reason="face short-range", author="Ann <ann@example.com>",
    )  # fmt: skip
    assert first.status is not None
    ready = first.status.condition("Ready")
    assert ready is not None, first.status
    assert ready.status == "True", first.status
    endpoint = str(first.status.observed["endpoints"][0])
    load = ImageLoad(f"{endpoint}/predict", [photo("astronaut.png"), photo("coffee.png")])
    load.start()
    try:
        result = deploy(
            ws, repo, home, name=MODEL, model_uri=f"models:/{MODEL}/2", environment="prod",
            reason="faces up to 5 m", author="CI <ci@example.com>", strategy="canary",
            steps=(0.5, 1.0), analysis=ANALYSIS, timeout=75,
        )  # fmt: skip
    finally:
        load.stop()
    assert load.failures == []
    assert load.versions.get("1", 0) > 0, load.versions
    assert load.versions.get("2", 0) > 0, load.versions
    assert load.faces > 0  # both versions find the astronaut's face
    status = result.status
    assert status is not None
    assert status.rollout is not None, status
    assert status.rollout.outcome == "promoted", status
    assert status.observed["champion"] == f"models:/{MODEL}/2"
    assert RegistryClient(ws).get_model_version_by_alias(MODEL, "champion").version == 2
