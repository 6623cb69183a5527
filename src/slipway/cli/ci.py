"""``slipway ci``: write the GitHub Actions workflow, and run its stages on this machine."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from slipway.cli.output import console, err_console
from slipway.pipelines.ci import (
    DEPLOY_FLAG,
    Stage,
    StageResult,
    StageStatus,
    deploy_enabled,
    find_pipeline,
    run_stages,
    stages,
    write_workflow,
)

app = typer.Typer(
    help="CI: generate the GitHub Actions workflow and reproduce it locally.", no_args_is_help=True
)

ProjectPath = Annotated[
    Path, typer.Option("--path", help="The project's root directory.", file_okay=False)
]
PipelineName = Annotated[
    str | None,
    typer.Option("--pipeline", help="Pipeline to run; default: the only pipelines/<name>.yaml."),
]
TestsCommand = Annotated[
    str | None,
    typer.Option(
        "--tests",
        help="Test command (default: 'pytest -q' when a tests/ directory exists; '' for none).",
    ),
]

_MARKS = {
    StageStatus.PASSED: "[green]✓[/green]",
    StageStatus.FAILED: "[red]✗[/red]",
    StageStatus.SKIPPED: "[yellow]-[/yellow]",
}


def _split(command: str | None) -> list[str] | None:
    return None if command is None else shlex.split(command)


@app.command("init")
def init(
    path: ProjectPath = Path("."),
    pipeline: PipelineName = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing workflow.")] = False,
    tests: TestsCommand = None,
    install: Annotated[
        str | None,
        typer.Option("--install", help="Install command on the CI machine (default: detected)."),
    ] = None,
) -> None:
    """Write .github/workflows/slipway.yml: install, tests, pipeline with gates, deploy."""
    root = path.resolve()
    name = pipeline or find_pipeline(root)
    target = write_workflow(root, name, force=force, install=_split(install), tests=_split(tests))
    console.print(f"wrote [bold]{escape(str(target))}[/bold] (pipeline {escape(name)})")
    console.print(f"reproduce it here with: slipway ci run --path {escape(str(path))}")


@app.command("run")
def run(
    path: ProjectPath = Path("."),
    pipeline: PipelineName = None,
    tests: TestsCommand = None,
    deploy: Annotated[
        bool,
        typer.Option("--deploy", help=f"Run the deploy stage (or set {DEPLOY_FLAG}=true)."),
    ] = False,
) -> None:
    """Run the workflow's stages here, in order; exit with the first failing stage's code."""
    root = path.resolve()
    name = pipeline or find_pipeline(root)
    stage_list = stages(root, name, tests=_split(tests), deploy=deploy or deploy_enabled())

    def on_stage(event: Stage | StageResult) -> None:
        if isinstance(event, Stage):
            console.rule(f"[bold]{escape(event.title)}[/bold] [dim]$ {escape(event.script)}[/dim]")
            return
        text = f"{_MARKS[event.status]} {escape(event.stage.name)} {event.status.value}"
        if event.status is StageStatus.FAILED:
            text += f" (exit code {event.exit_code})"
        elif event.note:
            text += f" [dim]({escape(event.note)})[/dim]"
        console.print(text, highlight=False)

    result = run_stages(stage_list, cwd=root, on_stage=on_stage)
    if not result.ok:
        failed = result.stages[-1].stage
        err_console.print(
            f"[red]error:[/red] stage {escape(failed.name)!r} failed with exit code "
            f"{result.exit_code}",
            highlight=False,
        )
        raise typer.Exit(result.exit_code)
