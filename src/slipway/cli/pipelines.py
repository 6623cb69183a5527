"""``slipway run <pipeline>``: run a declared pipeline, locally or on Ray, with the step cache."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from slipway.cli.context import Json, TrackingUri, open_workspace
from slipway.cli.output import console, err_console, print_json, print_table
from slipway.core.errors import InvalidInput
from slipway.pipelines.execution import PipelineResult, StepEvent, check, run_pipeline
from slipway.pipelines.invocation import StepStatus
from slipway.pipelines.runner import Runner, make_runner
from slipway.workspace import Workspace


class RunnerChoice(enum.StrEnum):
    LOCAL = "local"
    RAY = "ray"


_MARKS = {
    StepStatus.RUNNING: "[cyan]▶[/cyan]",
    StepStatus.FINISHED: "[green]✓[/green]",
    StepStatus.CACHED: "[blue]↺[/blue]",
    StepStatus.FAILED: "[red]✗[/red]",
    StepStatus.SKIPPED: "[yellow]-[/yellow]",
}


def run(
    pipeline: Annotated[
        str,
        typer.Argument(help="Pipeline name (pipelines/<name>.yaml or slipway.yaml) or a path."),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Override a pipeline param: key=value (repeatable)."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run every step, even when cached.")
    ] = False,
    project_dir: Annotated[
        Path,
        typer.Option(
            "--project-dir",
            help="Where names, relative input paths and step modules are found.",
            file_okay=False,
        ),
    ] = Path("."),
    runner: Annotated[
        RunnerChoice,
        typer.Option(
            "--runner",
            help="Where steps run: local (a process per step here) or ray (Ray tasks).",
            case_sensitive=False,
        ),
    ] = RunnerChoice.LOCAL,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="With --runner ray: the cluster to use (ray://host:10001, host:6379 or auto); "
            "default: start a local Ray for this run.",
        ),
    ] = None,
    tracking_uri: TrackingUri = None,
    json_out: Json = False,
) -> None:
    """Run a pipeline: independent steps in parallel, each a tracked run; cached steps skip."""
    base = project_dir.resolve()
    # As `python -m` does for the working directory: the project's step modules import.
    if str(base) not in sys.path:
        sys.path.insert(0, str(base))
    overrides = _parse_params(param or [])
    steps = len(check(pipeline, base).order)
    step_runner = make_runner(runner.value, max_workers=steps, ray_address=ray_address)
    workspace = open_workspace(tracking_uri)
    try:
        if json_out:
            result = run_pipeline(
                pipeline,
                overrides,
                cache=not no_cache,
                workspace=workspace,
                runner=step_runner,
                project_dir=base,
            )
            print_json(result)
        else:
            result = _run_with_progress(
                pipeline, overrides, not no_cache, workspace, step_runner, base, steps
            )
            _print_summary(result)
    finally:
        step_runner.close()
        workspace.close()
    if not result.ok:
        for failed in result.failed:
            reason = escape(failed.error or "")
            err_console.print(
                f"[red]error:[/red] step {escape(failed.name)!r} failed: {reason}",
                highlight=False,
                soft_wrap=True,
            )
        raise typer.Exit(1)


def _run_with_progress(
    pipeline: str,
    overrides: dict[str, str],
    cache: bool,
    workspace: Workspace,
    step_runner: Runner,
    base: Path,
    steps: int,
) -> PipelineResult:
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"pipeline {pipeline}", total=steps)

        def on_event(event: StepEvent) -> None:
            text = f"{_MARKS[event.status]} {escape(event.step)} {event.status.value.lower()}"
            if event.message and event.status is not StepStatus.FAILED:
                text += f" [dim]({escape(event.message)})[/dim]"
            elif event.message:
                text += f": {escape(event.message)}"
            progress.console.print(text, highlight=False, soft_wrap=True)
            if event.status is not StepStatus.RUNNING:
                progress.advance(task)

        return run_pipeline(
            pipeline,
            overrides,
            cache=cache,
            workspace=workspace,
            runner=step_runner,
            project_dir=base,
            on_event=on_event,
        )


def _print_summary(result: PipelineResult) -> None:
    print_table(
        f"Pipeline {result.pipeline}: {result.status.value} (run {result.run_id})",
        ["step", "status", "run id", "note"],
        [
            (s.name, s.status.value, s.run_id, s.error or _cached_note(s.cached_from))
            for s in result.steps.values()
        ],
    )


def _cached_note(source: str | None) -> str | None:
    return f"outputs of run {source}" if source else None


def _parse_params(items: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"invalid --param {item!r}: expected key=value")
        params[key.strip()] = value
    return params
