"""Engines for the SQL backends, chosen by URI scheme."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from slipway.core.errors import InvalidInput

SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
_WRITE = "slipway_write"


def redact(uri: str) -> str:
    """The URI without its password, fit for messages and logs."""
    try:
        return make_url(uri).render_as_string(hide_password=True)
    except ArgumentError:
        return uri.split("@")[-1]


def create_sql_engine(uri: str) -> Engine:
    """An engine for ``uri``; an unknown scheme gets an error that lists the valid ones."""
    scheme = uri.split(":", 1)[0] if ":" in uri else ""
    if scheme not in SCHEMES:
        raise InvalidInput(
            f"unsupported metadata store URI {redact(uri)!r}: valid schemes are "
            + ", ".join(f"{s}://" for s in SCHEMES)
        )
    if scheme == "sqlite":
        return _sqlite_engine(uri)
    if scheme == "postgresql":
        # Plain postgresql:// would pick psycopg2; Slipway ships psycopg 3.
        uri = "postgresql+psycopg" + uri[len("postgresql") :]
    return create_engine(uri, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_engine(uri: str) -> Engine:
    url = make_url(uri)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # NullPool: a connection per use is cheap in SQLite and keeps forked workers safe.
    engine = create_engine(uri, poolclass=NullPool, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take over transaction control from pysqlite so writers can BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the write lock up front: upgrading a read lock later can fail with
        # SQLITE_BUSY at once, whatever the busy timeout.
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: serialised up front on SQLite, plain on PostgreSQL."""
    with engine.connect().execution_options(**{_WRITE: True}) as conn, conn.begin():
        yield conn


@contextlib.contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn
