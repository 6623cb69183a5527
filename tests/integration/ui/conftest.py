"""The seeded workspace (built once per module: the SDK, a GitOps repository, a prediction
log) and the control-plane app with the dashboard mounted, as ``slipway server`` builds it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from slipway.api.auth import Authenticator
from slipway.api.context import ServerContext
from slipway.ui import mount_dashboard
from slipway.workspace import Workspace

from .seed import Seeded, seed


def build_app(workspace: Workspace, *, allow_anonymous_read: bool = False) -> FastAPI:
    from slipway.api.app import create_app

    ctx = ServerContext(
        workspace=workspace,
        authenticator=Authenticator(
            workspace.store.tokens, allow_anonymous_read=allow_anonymous_read
        ),
    )
    app = create_app(ctx)
    mount_dashboard(app, ctx)
    return app


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """One seeded SLIPWAY_HOME per test module (seeding takes a few seconds)."""
    home = tmp_path_factory.mktemp("dashboard") / "home"
    saved = {k: v for k, v in os.environ.items() if k.startswith("SLIPWAY_")}
    for key in saved:
        if key != "SLIPWAY_TEST_PG_URI":
            del os.environ[key]
    os.environ["SLIPWAY_HOME"] = str(home)
    os.environ["SLIPWAY_ACTOR"] = "tester"
    try:
        yield seed(home)
    finally:
        _reset_fluent()
        for key in [k for k in os.environ if k.startswith("SLIPWAY_")]:
            del os.environ[key]
        os.environ.update(saved)


def _reset_fluent() -> None:
    from slipway.tracking import fluent

    fluent._state.runs.clear()
    if fluent._state.client is not None:
        fluent._state.client.workspace.close()
    fluent._state.client = None
    fluent._state.experiment_id = None


@pytest.fixture
def home(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The seeded home as this test's SLIPWAY_HOME (the autouse fixture set another)."""
    monkeypatch.setenv("SLIPWAY_HOME", str(seeded.home))
    return seeded.home
