"""``slipway ct check ct.yaml``: one look of a continuous-training policy, by hand or cron."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from slipway.cli.context import TrackingUri, open_workspace
from slipway.cli.output import console, print_json

app = typer.Typer(
    help="Continuous training: triggers, retraining, canary commits.", no_args_is_help=True
)


@app.command("check")
def check(
    policy: Annotated[Path, typer.Argument(help="A ct.yaml (kind: ContinuousTraining).")],
    repo: Annotated[
        str | None, typer.Option(envvar="SLIPWAY_GITOPS_REPO", help="GitOps repository.")
    ] = None,
    branch: Annotated[str, typer.Option(envvar="SLIPWAY_GITOPS_BRANCH")] = "main",
    tracking_uri: TrackingUri = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Evaluate the triggers once; when one fires (outside cooldown and budget) retrain with
    the pipeline and its gates, and commit a canary of a passing candidate."""
    from slipway.cli.gitops import open_repo
    from slipway.ct.loop import ContinuousTraining
    from slipway.ct.policy import load_policy

    git, home = open_repo(repo, branch)
    result = ContinuousTraining(
        open_workspace(tracking_uri), git, home, load_policy(policy)
    ).check()
    if json_out:
        print_json(result)
        return
    colour = {"deployed": "green", "gate_failed": "red", "pipeline_failed": "red"}.get(
        result.outcome, "yellow"
    )
    console.print(f"[{colour}]{result.outcome}[/{colour}]: {result.reason}", highlight=False)
    if result.commit:
        console.print(f"canary committed: {result.commit[:12]} ({result.candidate})")
