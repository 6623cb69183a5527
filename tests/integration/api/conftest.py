"""Real ``slipway server`` processes on 127.0.0.1, over SQLite and PostgreSQL, with tokens."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from slipway.store import migrate, open_metadata_store
from slipway.store.engine import create_sql_engine
from tests.conftest import pg_base_uri

ROLES = ("viewer", "data-scientist", "deployer", "admin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ApiServer:
    process: subprocess.Popen[bytes]
    url: str
    home: Path
    tracking_uri: str
    output_file: Path
    tokens: dict[str, str] = field(default_factory=dict)
    """Role -> secret of a token whose owner is named after the role."""

    def output(self) -> str:
        return self.output_file.read_text(errors="replace")

    def client(self, role: str | None = None, **headers: str) -> httpx.Client:
        if role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return httpx.Client(base_url=self.url + "/api/v1", timeout=30, headers=headers)

    def issue(self, owner: str, role: str, expires_at: int | None = None) -> tuple[str, str]:
        """A new token straight in the store: (token id, secret)."""
        store = open_metadata_store(self.tracking_uri, actor="test-setup")
        try:
            issued = store.tokens.create(owner, role, expires_at=expires_at)
        finally:
            store.close()
        return issued.token.token_id, issued.secret

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def server_env(home: Path, tracking_uri: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env.update(
        SLIPWAY_HOME=str(home),
        SLIPWAY_TRACKING_URI=tracking_uri,
        SLIPWAY_ARTIFACT_URI=(home / "artifacts").as_uri(),
        SLIPWAY_ACTOR="server-process",
    )
    return env


def cli(home: Path, tracking_uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slipway.cli.main", *args],
        env=server_env(home, tracking_uri),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def start_server(home: Path, tracking_uri: str, *args: str) -> ApiServer:
    port = free_port()
    output = home / f"server-{port}.log"
    with output.open("wb") as sink:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen(
            [sys.executable, "-m", "slipway.cli.main", "server", "--port", str(port), *args],
            env=server_env(home, tracking_uri),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = ApiServer(process, f"http://127.0.0.1:{port}", home, tracking_uri, output)
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=server.url, timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{server.output()}")
            try:
                if client.get("/api/v1/health").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not become ready in 60 s:\n{server.output()}")


def migrated_sqlite(home: Path) -> str:
    home.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{home / 'meta.db'}"
    engine = create_sql_engine(uri)
    migrate.upgrade(engine)
    engine.dispose()
    return uri


@pytest.fixture(scope="module")
def pg_module_uri() -> Iterator[str]:
    """A migrated PostgreSQL schema shared by one test module's server."""
    base = pg_base_uri()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_sql_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    uri = f"{base}{sep}options=-csearch_path%3D{schema}"
    engine = create_sql_engine(uri)
    migrate.upgrade(engine)
    engine.dispose()
    try:
        yield uri
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """One server per backend for a test module, with a token of every role."""
    home = tmp_path_factory.mktemp(f"api-{request.param}")
    if request.param == "sqlite":
        uri = migrated_sqlite(home)
    else:
        home.mkdir(parents=True, exist_ok=True)
        uri = request.getfixturevalue("pg_module_uri")
    server = start_server(home, uri)
    try:
        for role in ROLES:
            server.tokens[role] = server.issue(role, role)[1]
        yield server
    finally:
        server.stop()
