"""``slipway`` command line: Typer app, one sub-app per noun, errors as one clear line."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from slipway.cli import (
    ci,
    ct,
    db,
    demo,
    experiments,
    gitops,
    models,
    monitor,
    pipelines,
    runs,
    serve,
    server,
)
from slipway.cli.output import err_console
from slipway.core.errors import SlipwayError

app = typer.Typer(
    name="slipway",
    help="Slipway: tracking, registry, pipelines, serving, GitOps and monitoring in one package.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(models.app, name="models")
app.add_typer(db.app, name="db")
app.add_typer(ci.app, name="ci")
app.command("demo")(demo.demo)
app.command("serve")(serve.serve)
app.command("run")(pipelines.run)
app.add_typer(gitops.app, name="deployments")
app.add_typer(monitor.app, name="monitor")
app.add_typer(monitor.labels_app, name="labels")
app.add_typer(ct.app, name="ct")
app.command("agent")(gitops.agent)
app.command("deploy")(gitops.deploy)
app.command("rollback")(gitops.rollback)
app.command("undeploy")(gitops.undeploy)
app.command("history")(gitops.history)
app.command("build")(gitops.build)
app.command("server")(server.server)
app.add_typer(server.tokens_app, name="tokens")


def run() -> None:
    """Entry point: domain errors become one line on stderr and a non-zero exit, no traceback."""
    # Standalone mode handles usage errors, --help and Ctrl-C itself (and exits); only our
    # domain errors come through.
    try:
        app()
    except SlipwayError as exc:
        # escape: messages quote user input and shapes like [-1, 30], which are not markup.
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    run()
