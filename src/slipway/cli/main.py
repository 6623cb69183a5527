"""``slipway`` command line: Typer app, one sub-app per noun, errors as one clear line."""

from __future__ import annotations

import sys

import click
import typer

from slipway.cli import db, demo, experiments, models, runs
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
app.command("demo")(demo.demo)


def run() -> None:
    """Entry point: domain errors become one line on stderr and a non-zero exit, no traceback."""
    try:
        app(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except SlipwayError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, markup=True)
        sys.exit(1)


if __name__ == "__main__":
    run()
