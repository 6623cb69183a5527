"""The workspace a CLI command works on (``--tracking-uri`` or ``SLIPWAY_*`` settings)."""

from __future__ import annotations

from typing import Annotated

import typer

from slipway.workspace import Workspace

TrackingUri = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        envvar="SLIPWAY_TRACKING_URI",
        help="Metadata store URI; default: SQLite under SLIPWAY_HOME (./.slipway).",
        show_envvar=True,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def open_workspace(tracking_uri: str | None) -> Workspace:
    return Workspace(tracking_uri)
