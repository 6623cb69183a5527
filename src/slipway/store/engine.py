"""Engines for the SQL backends, chosen by URI scheme."""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool, QueuePool

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
        # Connections are kept and reused: closing the only connection to a WAL database
        # checkpoints and deletes the WAL, which made every transaction cost 2-5 ms (a
        # log_param, a metric flush) where a reused connection takes tens of microseconds.
        # max_overflow=-1: a thread never waits for a connection, SQLite's lock serialises.
        engine = create_engine(
            uri,
            poolclass=QueuePool,
            pool_size=5,
            max_overflow=-1,
            connect_args={"timeout": 30, "check_same_thread": False},
        )
        _forget_connections_after_fork(engine)
    else:
        # An in-memory database lives and dies with its connection: one per use, as before.
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


def _forget_connections_after_fork(engine: Engine) -> None:
    """A forked child must not touch its parent's SQLite connections: it opens its own."""
    ref = weakref.ref(engine)

    def forget() -> None:
        child_engine = ref()
        if child_engine is not None:
            child_engine.dispose(close=False)

    os.register_at_fork(after_in_child=forget)


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: serialised up front on SQLite, plain on PostgreSQL."""
    with engine.connect().execution_options(**{_WRITE: True}) as conn, conn.begin():
        yield conn


@contextlib.contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn
