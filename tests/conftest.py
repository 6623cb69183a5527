"""Shared fixtures: real SQLite and PostgreSQL stores, file and memory artifact stores.

``SLIPWAY_TEST_PG_URI`` (set by ``make test`` after starting PostgreSQL) points at a database
where each test gets a schema of its own; without it the PostgreSQL cases are skipped locally
and fail in CI, so CI can never pass without having run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from slipway.store import migrate
from slipway.store.engine import create_sql_engine
from slipway.tracking import fluent
from slipway.workspace import Workspace

if TYPE_CHECKING:
    from tests.integration.remote.server import RemoteServer

BACKENDS = ["sqlite", "postgresql"]
CONTRACT_BACKENDS = [*BACKENDS, "remote"]
"""The SDK contract suites also run in remote mode, against a real ``slipway server``."""


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test touches ./.slipway or the caller's settings; fluent state starts empty."""
    for var in list(os.environ):
        if var.startswith("SLIPWAY_") and var != "SLIPWAY_TEST_PG_URI":
            monkeypatch.delenv(var)
    monkeypatch.setenv("SLIPWAY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SLIPWAY_ACTOR", "tester")
    yield
    fluent._state.runs.clear()
    if fluent._state.client is not None:
        fluent._state.client.workspace.close()
    fluent._state.client = None
    fluent._state.experiment_id = None


def pg_base_uri() -> str:
    uri = os.environ.get("SLIPWAY_TEST_PG_URI")
    if not uri:
        if os.environ.get("CI"):
            pytest.fail("SLIPWAY_TEST_PG_URI is not set in CI: run the tests with `make test`")
        pytest.skip("PostgreSQL not configured (SLIPWAY_TEST_PG_URI); `make test` sets it")
    return uri


@pytest.fixture
def pg_schema_uri() -> Iterator[str]:
    """A PostgreSQL URI whose search_path is a fresh schema, dropped afterwards."""
    base = pg_base_uri()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_sql_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def migrated_store_uri(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated metadata database of ``backend`` (sqlite or postgresql)."""
    if backend == "sqlite":
        uri = f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        uri = request.getfixturevalue("pg_schema_uri")
    engine = create_sql_engine(uri)
    migrate.upgrade(engine)
    engine.dispose()
    return uri


@pytest.fixture(params=BACKENDS)
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated metadata database of each backend."""
    return migrated_store_uri(request.param, request, tmp_path)


@pytest.fixture
def workspace(store_uri: str, tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace(store_uri, (tmp_path / "artifacts").as_uri())
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def remote_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteServer]:
    """One real ``slipway server`` on 127.0.0.1 for the session (SQLite, own home, tokens)."""
    from tests.integration.remote.server import start_remote_server

    # Failed logins are limited per address; the auth tests must not lock the session out.
    home = tmp_path_factory.mktemp("remote-server")
    server = start_remote_server(home, "--max-auth-failures", "1000")
    yield server
    server.stop()


@pytest.fixture
def remote_workspace(
    remote_server: RemoteServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    """A workspace in remote mode on an emptied server; SLIPWAY_TOKEN set for child
    workspaces (the fluent API, subprocesses) too."""
    remote_server.reset()
    monkeypatch.setenv("SLIPWAY_TOKEN", remote_server.tokens["tester"])
    ws = Workspace(remote_server.url)
    yield ws
    ws.close()


@pytest.fixture(params=CONTRACT_BACKENDS)
def contract_workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    """A workspace of every backend, remote mode included (for the SDK contract suites)."""
    if request.param == "remote":
        yield request.getfixturevalue("remote_workspace")
        return
    uri = migrated_store_uri(request.param, request, tmp_path)
    ws = Workspace(uri, (tmp_path / "artifacts").as_uri())
    yield ws
    ws.close()


@pytest.fixture
def fluent_workspace(workspace: Workspace) -> Workspace:
    """The fluent API (``slipway.start_run`` …) pointed at ``workspace``."""
    fluent.set_tracking_uri(workspace.tracking_uri, workspace.settings.resolved_artifact_uri())
    return fluent.client().workspace
