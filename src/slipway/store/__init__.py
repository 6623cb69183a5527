"""Metadata store: SQLAlchemy 2 over SQLite (embedded default) or PostgreSQL.

The backend is chosen by URI scheme. Constructors do no I/O and never create tables: schema
changes happen only through migrations (``slipway db upgrade``), applied automatically for the
embedded default alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr
from sqlalchemy import Engine

from slipway.core.settings import Settings, is_remote_uri
from slipway.store import migrate
from slipway.store.audit import AuditLog
from slipway.store.deployments import DeploymentStatusRepository
from slipway.store.engine import SCHEMES, create_sql_engine, redact
from slipway.store.experiments import ExperimentRepository
from slipway.store.models import ModelRepository
from slipway.store.runs import RunRepository
from slipway.store.tokens import TokenRepository


@dataclass
class MetadataStore:
    """One database, seen through one repository per entity group."""

    uri: str
    engine: Engine
    actor: str
    experiments: ExperimentRepository = field(init=False)
    runs: RunRepository = field(init=False)
    models: ModelRepository = field(init=False)
    audit: AuditLog = field(init=False)
    deployments: DeploymentStatusRepository = field(init=False)
    tokens: TokenRepository = field(init=False)

    def __post_init__(self) -> None:
        self.experiments = ExperimentRepository(self.engine, self.actor)
        self.runs = RunRepository(self.engine, self.actor)
        self.models = ModelRepository(self.engine, self.actor)
        self.audit = AuditLog(self.engine)
        self.deployments = DeploymentStatusRepository(self.engine, self.actor)
        self.tokens = TokenRepository(self.engine, self.actor)

    def upgrade(self) -> None:
        """Apply pending migrations."""
        migrate.upgrade(self.engine)

    def check_schema(self) -> None:
        migrate.check_current(self.engine, redact(self.uri))

    def close(self) -> None:
        self.engine.dispose()


def open_metadata_store(
    uri: str, *, actor: str, auto_upgrade: bool = False, token: SecretStr | str | None = None
) -> MetadataStore:
    """Open the store at ``uri``.

    ``auto_upgrade`` applies pending migrations (only the embedded default does this);
    otherwise a database behind the code's schema raises ``SchemaOutOfDate``.
    ``http(s)://host:port`` opens a Slipway server's store over its REST API, authenticated
    by ``token`` (default ``SLIPWAY_TOKEN``); the server then records the token's owner as
    the actor.
    """
    if is_remote_uri(uri):
        from slipway.core.http import ApiSession
        from slipway.store.remote import RemoteMetadataStore

        secret = token if token is not None else Settings().token
        return RemoteMetadataStore(ApiSession(uri, secret), actor)
    store = MetadataStore(uri, create_sql_engine(uri), actor)
    if auto_upgrade:
        store.upgrade()
    else:
        store.check_schema()
    return store


__all__ = ["SCHEMES", "MetadataStore", "open_metadata_store", "redact"]
