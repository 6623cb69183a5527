"""``slipway experiments``: list and show experiments."""

from __future__ import annotations

from typing import Annotated

import typer

from slipway.cli.context import Json, TrackingUri, open_workspace
from slipway.cli.output import print_fields, print_json, print_table, when
from slipway.core.errors import NotFound
from slipway.tracking import TrackingClient

app = typer.Typer(help="Experiments: named groups of runs.", no_args_is_help=True)


@app.command("list")
def list_experiments(tracking_uri: TrackingUri = None, json_out: Json = False) -> None:
    """List experiments."""
    experiments = TrackingClient(open_workspace(tracking_uri)).search_experiments()
    if json_out:
        print_json(experiments)
        return
    print_table(
        "Experiments",
        ["id", "name", "created"],
        [(e.experiment_id, e.name, when(e.created_at)) for e in experiments],
    )


@app.command("show")
def show(
    experiment: Annotated[str, typer.Argument(help="Experiment name or id.")],
    tracking_uri: TrackingUri = None,
    json_out: Json = False,
) -> None:
    """Show one experiment and its latest runs."""
    client = TrackingClient(open_workspace(tracking_uri))
    try:
        exp = client.get_experiment_by_name(experiment)
    except NotFound:
        if not experiment.isdigit():
            raise
        exp = client.get_experiment(experiment)
    runs = client.search_runs(exp.experiment_id, limit=20)
    if json_out:
        print_json({"experiment": exp, "runs": runs})
        return
    print_fields(
        f"Experiment {exp.name}",
        [("id", exp.experiment_id), ("created", when(exp.created_at)), ("tags", exp.tags)],
    )
    print_table(
        "Latest runs",
        ["run id", "name", "status", "started"],
        [(r.run_id, r.run_name, r.status.value, when(r.start_time)) for r in runs],
    )
