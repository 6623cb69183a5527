"""A workspace: the metadata store and the artifact store that SDK calls work against.

Opened lazily from :class:`~slipway.core.settings.Settings`; the embedded default (no
``SLIPWAY_TRACKING_URI``) is SQLite under ``SLIPWAY_HOME`` and migrates itself on first use.
With ``SLIPWAY_TRACKING_URI=http(s)://host:port`` (remote mode) both stores are a Slipway
server's, reached through its REST API over one keep-alive HTTP session with
``SLIPWAY_TOKEN``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from slipway.artifacts import ArtifactStore, open_artifact_store
from slipway.core.settings import Settings, is_remote_uri
from slipway.store import MetadataStore, open_metadata_store

if TYPE_CHECKING:
    from slipway.core.http import ApiSession


class Workspace:
    def __init__(
        self,
        tracking_uri: str | None = None,
        artifact_uri: str | None = None,
        *,
        settings: Settings | None = None,
    ) -> None:
        base = settings or Settings()
        updates: dict[str, object] = {}
        if tracking_uri is not None:
            updates["tracking_uri"] = tracking_uri
        if artifact_uri is not None:
            updates["artifact_uri"] = artifact_uri
        self.settings = base.model_copy(update=updates) if updates else base
        self._store: MetadataStore | None = None
        self._artifacts: ArtifactStore | None = None
        self._session: ApiSession | None = None
        self._lock = threading.Lock()

    @property
    def tracking_uri(self) -> str:
        return self.settings.resolved_tracking_uri()

    @property
    def actor(self) -> str:
        return self.settings.resolved_actor()

    @property
    def is_remote(self) -> bool:
        """True when the stores are a Slipway server's, reached over its REST API."""
        return self.settings.is_remote

    def _api_session(self) -> ApiSession:
        # Callers hold self._lock. One session (one connection pool) for both stores; the
        # HTTP stack is imported only in remote mode.
        from slipway.core.http import ApiSession

        if self._session is None:
            self._session = ApiSession(self.tracking_uri, self.settings.token)
        return self._session

    @property
    def store(self) -> MetadataStore:
        with self._lock:
            if self._store is None and self.is_remote:
                from slipway.store.remote import RemoteMetadataStore

                self._store = RemoteMetadataStore(self._api_session(), self.actor)
            if self._store is None:
                self._store = open_metadata_store(
                    self.tracking_uri,
                    actor=self.actor,
                    auto_upgrade=self.settings.is_embedded_default,
                )
            return self._store

    @property
    def artifacts(self) -> ArtifactStore:
        with self._lock:
            if self._artifacts is None:
                self._artifacts = self._open_artifacts(self.settings.resolved_artifact_uri())
            return self._artifacts

    def _open_artifacts(self, url: str) -> ArtifactStore:
        if not is_remote_uri(url):
            return open_artifact_store(url)
        from slipway.artifacts.remote import RemoteArtifactStore
        from slipway.core.http import ApiSession, server_root

        if self.is_remote and server_root(url) == server_root(self.tracking_uri):
            return RemoteArtifactStore(self._api_session())
        return RemoteArtifactStore(ApiSession(url, self.settings.token))

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            if self._session is not None:
                self._session.close()
                self._session = None
            self._artifacts = None
