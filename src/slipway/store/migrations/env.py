"""Alembic environment: always driven from code (``slipway db upgrade``), never from alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from slipway.store.schema import metadata

connection: Connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
