"""``slipway db``: schema migrations of the metadata store."""

from __future__ import annotations

import typer

from slipway.cli.context import Json, TrackingUri, open_workspace
from slipway.cli.output import console, print_json
from slipway.store import migrate, redact
from slipway.store.engine import create_sql_engine

app = typer.Typer(help="Metadata database: migrations.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(tracking_uri: TrackingUri = None, json_out: Json = False) -> None:
    """Apply pending migrations to the metadata database."""
    uri = open_workspace(tracking_uri).tracking_uri
    engine = create_sql_engine(uri)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        after = migrate.current_revision(engine)
    finally:
        engine.dispose()
    if json_out:
        print_json({"uri": redact(uri), "from": before, "to": after})
    else:
        console.print(f"{redact(uri)}: {before or 'empty'} -> {after}")


@app.command("current")
def current(tracking_uri: TrackingUri = None, json_out: Json = False) -> None:
    """Show the database's revision and the one this Slipway needs."""
    uri = open_workspace(tracking_uri).tracking_uri
    engine = create_sql_engine(uri)
    try:
        revision = migrate.current_revision(engine)
    finally:
        engine.dispose()
    head = migrate.head_revision()
    if json_out:
        print_json({"uri": redact(uri), "current": revision, "head": head})
    else:
        state = "up to date" if revision == head else "needs `slipway db upgrade`"
        console.print(f"{redact(uri)}: at {revision or 'empty'}, head {head} ({state})")
