"""A real ``slipway server`` (SQLite underneath, its own home) for remote-mode tests.

One process serves a whole test session; :meth:`RemoteServer.reset` empties every table
but the tokens between tests, so each test sees a store as empty as a fresh local one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from pydantic import SecretStr

from slipway.artifacts import ArtifactStore, FsspecArtifactStore
from slipway.artifacts.remote import RemoteArtifactStore
from slipway.core.settings import Settings
from slipway.store.engine import create_sql_engine
from slipway.store.schema import metadata
from slipway.workspace import Workspace
from tests.integration.api.conftest import ApiServer, migrated_sqlite, start_server

OWNERS = ("tester", "alice")
"""Token owners: ``tester`` is the conftest's SLIPWAY_ACTOR, ``alice`` the store contract's."""

_BLOBS: dict[str, str] = {}
"""Server URL -> the artifact store URL behind it (for tests that tamper with blobs)."""


@dataclass
class RemoteServer:
    api: ApiServer
    tokens: dict[str, str] = field(default_factory=dict)
    _engine: sa.Engine | None = None

    @property
    def url(self) -> str:
        return self.api.url

    @property
    def artifact_uri(self) -> str:
        return (self.api.home / "artifacts").as_uri()

    def workspace(self, owner: str = "tester") -> Workspace:
        settings = Settings(token=SecretStr(self.tokens[owner]))
        return Workspace(self.url, settings=settings)

    def reset(self) -> None:
        """Empty every table except the tokens (the server keeps no state of its own)."""
        if self._engine is None:
            self._engine = create_sql_engine(self.api.tracking_uri)
        with self._engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                if table.name != "api_tokens":
                    conn.execute(table.delete())

    def stop(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        self.api.stop()


def start_remote_server(home: Path, *args: str) -> RemoteServer:
    api = start_server(home, migrated_sqlite(home), *args)
    server = RemoteServer(api)
    for owner in OWNERS:
        server.tokens[owner] = api.issue(owner, "admin")[1]
    _BLOBS[server.url] = server.artifact_uri
    return server


def blobs_of(store: ArtifactStore) -> FsspecArtifactStore:
    """The store that really holds ``store``'s blobs: itself, or the server's if remote."""
    if isinstance(store, RemoteArtifactStore):
        return FsspecArtifactStore(_BLOBS[store.url])
    assert isinstance(store, FsspecArtifactStore)
    return store


def blobs_behind(workspace: Workspace) -> FsspecArtifactStore:
    """The store that really holds ``workspace``'s blobs (the server's, if remote)."""
    return blobs_of(workspace.artifacts)
