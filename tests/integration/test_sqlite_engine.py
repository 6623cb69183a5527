"""The SQLite engine keeps its connections; a forked child must still get its own."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import text

from slipway.store import migrate
from slipway.store.engine import create_sql_engine, write_transaction


def test_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    engine = create_sql_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    migrate.upgrade(engine)
    with write_transaction(engine) as conn:
        conn.execute(text("CREATE TABLE t (who TEXT)"))
        conn.execute(text("INSERT INTO t VALUES ('parent-before')"))
    assert engine.pool.checkedin() >= 1  # the parent's connection is kept for reuse

    pid = os.fork()
    if pid == 0:  # child: must not reuse the parent's sqlite3 connection
        code = 1
        try:
            with write_transaction(engine) as conn:
                conn.execute(text("INSERT INTO t VALUES ('child')"))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    with write_transaction(engine) as conn:
        conn.execute(text("INSERT INTO t VALUES ('parent-after')"))
        rows = [r.who for r in conn.execute(text("SELECT who FROM t ORDER BY rowid"))]
    assert rows == ["parent-before", "child", "parent-after"]
    engine.dispose()


def test_in_memory_database_keeps_one_connection_per_use() -> None:
    engine = create_sql_engine("sqlite://")
    assert engine.pool.__class__.__name__ == "NullPool"
