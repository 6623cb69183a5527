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

import pytest
import sqlalchemy as sa

from slipway.store import migrate
from slipway.store.engine import create_sql_engine
from slipway.tracking import fluent
from slipway.workspace import Workspace

BACKENDS = ["sqlite", "postgresql"]


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


@pytest.fixture(params=BACKENDS)
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated metadata database of each backend."""
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        uri = request.getfixturevalue("pg_schema_uri")
    engine = create_sql_engine(uri)
    migrate.upgrade(engine)
    engine.dispose()
    return uri


@pytest.fixture
def workspace(store_uri: str, tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace(store_uri, (tmp_path / "artifacts").as_uri())
    yield ws
    ws.close()


@pytest.fixture
def fluent_workspace(workspace: Workspace) -> Workspace:
    """The fluent API (``slipway.start_run`` …) pointed at ``workspace``."""
    fluent.set_tracking_uri(workspace.tracking_uri, workspace.settings.resolved_artifact_uri())
    return fluent.client().workspace
