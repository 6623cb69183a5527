"""``slipway runs``: list and show runs."""

from __future__ import annotations

from typing import Annotated

import typer

from slipway.cli.context import Json, TrackingUri, open_workspace
from slipway.cli.output import print_fields, print_json, print_table, when
from slipway.tracking import TrackingClient

app = typer.Typer(help="Runs: what one training or evaluation logged.", no_args_is_help=True)


@app.command("list")
def list_runs(
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="Experiment name.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    tracking_uri: TrackingUri = None,
    json_out: Json = False,
) -> None:
    """List runs, newest first."""
    client = TrackingClient(open_workspace(tracking_uri))
    exp_id = client.get_experiment_by_name(experiment).experiment_id if experiment else None
    runs = client.search_runs(exp_id, limit=limit)
    if json_out:
        print_json(runs)
        return
    print_table(
        "Runs",
        ["run id", "experiment", "name", "status", "started", "ended"],
        [
            (
                r.run_id,
                r.experiment_id,
                r.run_name,
                r.status.value,
                when(r.start_time),
                when(r.end_time),
            )
            for r in runs
        ],
    )


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="Run id (32 hex characters).")],
    tracking_uri: TrackingUri = None,
    json_out: Json = False,
) -> None:
    """Show a run: params, latest metrics, tags, inputs and artifacts."""
    run = TrackingClient(open_workspace(tracking_uri)).get_run(run_id)
    if json_out:
        print_json(run)
        return
    info = run.info
    print_fields(
        f"Run {info.run_id}",
        [
            ("name", info.run_name),
            ("experiment", info.experiment_id),
            ("status", info.status.value),
            ("user", info.user),
            ("started", when(info.start_time)),
            ("ended", when(info.end_time)),
        ],
    )
    print_table("Params", ["key", "value"], sorted(run.data.params.items()))
    print_table("Metrics (latest)", ["key", "value"], sorted(run.data.metrics.items()))
    print_table("Tags", ["key", "value"], sorted(run.data.tags.items()))
    print_table(
        "Inputs",
        ["name", "context", "rows", "sha256"],
        [(i.dataset.name, i.context, i.dataset.num_rows, i.dataset.digest) for i in run.inputs],
    )
    print_table(
        "Artifacts",
        ["path", "kind", "size", "sha256"],
        [(a.path, a.kind, a.size, a.digest) for a in run.artifacts],
    )
