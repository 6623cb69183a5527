"""Settings read from ``SLIPWAY_*`` environment variables.

The embedded default keeps everything under one folder (``./.slipway``): the SQLite database,
the content-addressed artifacts and, later, prediction logs and the GitOps repository.
"""

from __future__ import annotations

import getpass
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # env_ignore_empty: CI systems pass an unset secret as "", which must mean "not set".
    model_config = SettingsConfigDict(env_prefix="SLIPWAY_", extra="ignore", env_ignore_empty=True)

    home: Path = Field(
        default=Path(".slipway"),
        description="Folder of the embedded default (SQLite database, artifacts, logs).",
    )
    tracking_uri: str | None = Field(
        default=None,
        description="Metadata store URI (sqlite:///… or postgresql+psycopg://…), or the URL of "
        "a Slipway server (http(s)://host:port: remote mode, every call over its REST API). "
        "Unset: SQLite at <home>/slipway.db, migrated automatically.",
    )
    token: SecretStr | None = Field(
        default=None,
        description="API token of the Slipway server in remote mode (`slipway tokens create`).",
    )
    artifact_uri: str | None = Field(
        default=None,
        description="Artifact store URL (file://…, s3://bucket/prefix, memory://…). "
        "Unset: <home>/artifacts.",
    )
    actor: str | None = Field(
        default=None, description="Name recorded in the audit log; defaults to the OS user."
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible server (MinIO, moto, …)."
    )

    @property
    def is_embedded_default(self) -> bool:
        """True when no store URI was given: Slipway owns the database and may migrate it."""
        return self.tracking_uri is None

    @property
    def is_remote(self) -> bool:
        """True when the tracking URI names a Slipway server rather than a database."""
        return is_remote_uri(self.tracking_uri or "")

    def resolved_tracking_uri(self) -> str:
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{(self.home / 'slipway.db').resolve()}"

    def resolved_artifact_uri(self) -> str:
        if self.artifact_uri:
            return self.artifact_uri
        if self.is_remote and self.tracking_uri:
            return self.tracking_uri  # the server's blobs, over the same API
        return (self.home / "artifacts").resolve().as_uri()

    def resolved_actor(self) -> str:
        if self.actor:
            return self.actor
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"


def is_remote_uri(uri: str) -> bool:
    """Whether ``uri`` is the URL of a Slipway server (``http://`` or ``https://``)."""
    return uri.lower().startswith(("http://", "https://"))
