"""A workspace: the metadata store and the artifact store that SDK calls work against.

Opened lazily from :class:`~slipway.core.settings.Settings`; the embedded default (no
``SLIPWAY_TRACKING_URI``) is SQLite under ``SLIPWAY_HOME`` and migrates itself on first use.
"""

from __future__ import annotations

import threading

from slipway.artifacts import ArtifactStore, open_artifact_store
from slipway.core.settings import Settings
from slipway.store import MetadataStore, open_metadata_store


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
        self._lock = threading.Lock()

    @property
    def tracking_uri(self) -> str:
        return self.settings.resolved_tracking_uri()

    @property
    def actor(self) -> str:
        return self.settings.resolved_actor()

    @property
    def store(self) -> MetadataStore:
        with self._lock:
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
                self._artifacts = open_artifact_store(self.settings.resolved_artifact_uri())
            return self._artifacts

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
