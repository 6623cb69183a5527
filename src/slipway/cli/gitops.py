"""``slipway agent | deploy | rollback | history | build`` and ``slipway deployments …``."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from slipway.cli.context import Json, TrackingUri, open_workspace
from slipway.cli.output import console, err_console, print_fields, print_json, print_table
from slipway.core.errors import InvalidInput
from slipway.core.settings import Settings
from slipway.deploy.spec import Analysis, Checks, parse_duration
from slipway.gitops.repo import GitRepo
from slipway.gitops.status import DeploymentStatus
from slipway.workspace import Workspace

if TYPE_CHECKING:
    from slipway.core.http import ApiSession

app = typer.Typer(help="Status of GitOps deployments.", no_args_is_help=True)

Env = Annotated[str, typer.Option("--env", "-e", help="Environment.", envvar="SLIPWAY_ENV")]
Repo = Annotated[
    str | None,
    typer.Option(
        "--repo",
        envvar="SLIPWAY_GITOPS_REPO",
        help="GitOps repository: a path or a URL (file://, ssh, https). "
        "Default: <SLIPWAY_HOME>/gitops.",
        show_envvar=True,
    ),
]
Branch = Annotated[str, typer.Option(envvar="SLIPWAY_GITOPS_BRANCH", help="Branch to watch.")]
Author = Annotated[
    str | None,
    typer.Option(help="Commit author, 'Name <email>'; default: SLIPWAY_ACTOR or the OS user."),
]


def open_repo(repo: str | None, branch: str) -> tuple[GitRepo, Path]:
    home = Settings().home.resolve()
    if repo is None:
        return GitRepo.default(home, branch=branch), home
    return GitRepo(repo, branch=branch, mirrors=home / "gitops-mirrors"), home


def remote_session(workspace: Workspace, **local_only: object) -> ApiSession | None:
    """The workspace's API session in remote mode (None: local). ``local_only`` are the
    options given that only make sense against a local GitOps repository: refused remotely."""
    if not workspace.is_remote:
        return None
    from slipway.store.remote_ops import api_session

    for option, value in local_only.items():
        if value is not None:
            flag = "--" + option.replace("_", "-")
            why = (
                "the server records the token's owner as the author"
                if option == "author"
                else "the server commits to its own GitOps repository"
            )
            raise InvalidInput(
                f"{flag} works only with a local GitOps repository; in remote mode "
                f"({workspace.tracking_uri}) {why}: leave {flag} (and SLIPWAY_GITOPS_REPO / "
                "SLIPWAY_GITOPS_BRANCH) unset"
            )
    return api_session(workspace.store)


def _branch(branch: str) -> str | None:
    """``--branch`` when it is not the default (given, so refused in remote mode)."""
    return None if branch == "main" else branch


def _time(seconds: float | None) -> str:
    if not seconds:
        return "-"
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _print_status(status: DeploymentStatus) -> None:
    observed = status.observed
    rollout = status.rollout
    fields: list[tuple[str, Any]] = [
        ("environment", status.environment),
        ("desired revision", (status.desired_revision or "")[:12]),
        ("observed revision", (status.observed_revision or "")[:12]),
        ("champion", observed.get("champion")),
        ("challenger", observed.get("challenger")),
        ("traffic to challenger", f"{observed.get('weight', 0):.0%} ({observed.get('mode')})"),
        ("replicas", f"{observed.get('ready_replicas', 0)}/{observed.get('replicas', 0)} ready"),
        ("endpoints", ", ".join(observed.get("endpoints", []))),
    ]
    if rollout is not None:
        fields.append(("rollout", f"{rollout.model} step {rollout.step} {rollout.outcome}"))
        if rollout.reason:
            fields.append(("rollout reason", rollout.reason))
    print_fields(f"deployment {status.name}", fields)
    print_table(
        "conditions",
        ["type", "status", "reason", "message", "since"],
        (
            (c.type, c.status, c.reason, c.message, _time(c.last_transition_time))
            for c in status.conditions
        ),
    )


def _on_event(name: str, message: str) -> None:
    err_console.print(f"[cyan]{name}[/cyan] {message}", highlight=False)


def agent(
    env: Env = "prod",
    repo: Repo = None,
    branch: Branch = "main",
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between polls.")] = 10.0,
    webhook_port: Annotated[
        int | None,
        typer.Option(help="Serve the push webhook (POST /hooks/git) on this port."),
    ] = None,
    webhook_host: Annotated[str, typer.Option(help="Webhook listen address.")] = "127.0.0.1",
    webhook_secret: Annotated[
        str | None,
        typer.Option(envvar="SLIPWAY_WEBHOOK_SECRET", help="Shared secret of the webhook."),
    ] = None,
    alerts: Annotated[
        Path | None, typer.Option(help="Alert rules file (kind: AlertRules) to evaluate.")
    ] = None,
    monitor_interval: Annotated[
        float, typer.Option(min=1, help="Seconds between alert evaluations.")
    ] = 60.0,
    ct: Annotated[
        list[Path] | None,
        typer.Option(help="Continuous-training policy (ct.yaml); repeat for several."),
    ] = None,
    once: Annotated[bool, typer.Option(help="Reconcile once and exit.")] = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Watch the GitOps repository and reconcile one environment (pull mode)."""
    from slipway.gitops.agent import Agent, environment_lock

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    git, home = open_repo(repo, branch)
    workspace = open_workspace(tracking_uri)
    if alerts is not None:
        from slipway.monitoring.alerts import load_rules

        load_rules(alerts)  # a bad rules file stops the agent at start, naming the field
    runner = Agent(
        env,
        git,
        workspace,
        interval=interval,
        home=home,
        actor="slipway-agent",
        alerts=alerts,
        monitor_interval=monitor_interval,
    )
    for path in ct or []:
        from slipway.ct.loop import ContinuousTraining
        from slipway.ct.policy import load_policy

        loop = ContinuousTraining(workspace, git, home, load_policy(path))
        runner.extra_checks.append(_in_background(loop.check, f"ct-{path.stem}"))
    if once:
        with environment_lock(home, env):
            for status in runner.run_once().values():
                _print_status(status)
            runner.monitor(force=True)
        return
    stop = threading.Event()

    def _stop(signum: int, _: object) -> None:
        stop.set()
        runner.wake()

    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _stop)
    if webhook_port is not None:
        if not webhook_secret:
            raise InvalidInput("--webhook-port needs a secret: set SLIPWAY_WEBHOOK_SECRET")
        _start_webhook(runner, webhook_host, webhook_port, webhook_secret, branch)
    runner.run(stop)


def _in_background(check: Callable[[], object], name: str) -> Callable[[], None]:
    """Run ``check`` in its own thread, one at a time: a retraining pipeline may take an hour,
    and rollouts must keep being reconciled meanwhile."""
    running: list[threading.Thread] = []

    def start() -> None:
        if running and running[0].is_alive():
            return
        running[:] = [threading.Thread(target=check, name=name, daemon=True)]
        running[0].start()

    return start


def _start_webhook(runner: Any, host: str, port: int, secret: str, branch: str) -> None:
    import uvicorn

    from slipway.gitops.webhook import webhook_app

    config = uvicorn.Config(
        webhook_app(secret, branch, runner.wake), host=host, port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, name="webhook", daemon=True).start()
    logging.getLogger("slipway.gitops").info("webhook on http://%s:%d/hooks/git", host, port)


def deploy(
    name: Annotated[str, typer.Argument(help="Deployment name (deployments/<name>.yaml).")],
    model: Annotated[str, typer.Option(help="models:/<name>@<alias> or models:/<name>/<v>.")],
    env: Env = "prod",
    strategy: Annotated[
        str | None, typer.Option(help="recreate, canary, shadow or blue-green.")
    ] = None,
    reason: Annotated[
        str,
        typer.Option("--reason", "-m", envvar="SLIPWAY_DEPLOY_REASON", help="Why (in the commit)."),
    ] = "",
    steps: Annotated[str | None, typer.Option(help="Canary weights, e.g. 0.1,0.5,1.0.")] = None,
    interval: Annotated[
        str | None, typer.Option(help="Analysis interval per step, e.g. 30s.")
    ] = None,
    min_samples: Annotated[int | None, typer.Option(min=1, help="Samples per check.")] = None,
    max_error_rate: Annotated[float | None, typer.Option(min=0, max=1)] = None,
    max_prediction_drift: Annotated[float | None, typer.Option(min=0, max=1)] = None,
    target: Annotated[str | None, typer.Option(help="local or kubernetes.")] = None,
    replicas: Annotated[int | None, typer.Option(min=1, max=64)] = None,
    apply: Annotated[
        bool,
        typer.Option(
            envvar="SLIPWAY_DEPLOY_APPLY",
            help="Apply now (--no-apply: only commit, for an agent).",
        ),
    ] = True,
    timeout: Annotated[float, typer.Option(help="Longest wait for a rollout, seconds.")] = 600,
    author: Author = None,
    repo: Repo = None,
    branch: Branch = "main",
    tracking_uri: TrackingUri = None,
    json: Json = False,
) -> None:
    """Commit a new desired state for a deployment and apply it (push mode)."""
    from slipway.gitops.push import deploy as push_deploy

    workspace = open_workspace(tracking_uri)
    session = remote_session(workspace, author=author, repo=repo, branch=_branch(branch))
    analysis = _analysis(interval, min_samples, max_error_rate, max_prediction_drift)
    weights = None if steps is None else _weights(steps)
    if session is not None:
        from slipway.store import remote_ops

        change = remote_ops.deploy(
            session,
            env,
            name,
            model_uri=model,
            reason=reason,
            strategy=strategy,
            steps=weights,
            analysis=None if analysis is None else analysis.model_dump(mode="json"),
            target=target,
            replicas=replicas,
            apply=apply,
        )
        _report_remote(workspace, change, env, name, json, timeout)
        return
    git, home = open_repo(repo, branch)
    result = push_deploy(
        workspace,
        git,
        home,
        name=name,
        model_uri=model,
        environment=env,
        reason=reason,
        author=author or workspace.actor,
        strategy=strategy,
        analysis=analysis,
        steps=weights,
        target=target,
        replicas=replicas,
        apply_now=apply,
        timeout=timeout,
        on_status=None if json else _progress_line,
    )
    _report(result, json)


def _weights(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(w) for w in text.split(","))
    except ValueError:
        raise InvalidInput(f"--steps takes weights like 0.1,0.5,1.0, got {text!r}") from None


def _analysis(
    interval: str | None,
    min_samples: int | None,
    max_error_rate: float | None,
    max_drift: float | None,
) -> Analysis | None:
    if interval is None and min_samples is None and max_error_rate is None and max_drift is None:
        return None
    base = Analysis()
    checks = base.checks.model_copy(
        update={
            k: v
            for k, v in (("max_error_rate", max_error_rate), ("max_prediction_drift", max_drift))
            if v is not None
        }
    )
    updates: dict[str, Any] = {"checks": Checks.model_validate(checks.model_dump())}
    if interval is not None:
        try:
            updates["interval"] = parse_duration(interval)
        except ValueError as exc:
            raise InvalidInput(f"--interval: {exc}") from None
    if min_samples is not None:
        updates["min_samples"] = min_samples
    return Analysis.model_validate({**base.model_dump(), **updates})


_last_line: list[str] = [""]


def _progress_line(status: DeploymentStatus) -> None:
    progressing = status.condition("Progressing")
    if progressing is None or progressing.status != "True":
        return
    line = f"{progressing.reason}: {progressing.message}"
    if line != _last_line[0]:
        _last_line[0] = line
        err_console.print(f"[cyan]{status.name}[/cyan] {line}", highlight=False)


def _report(result: Any, json: bool) -> None:
    if json:
        print_json(
            {
                "commit": result.commit,
                "applied_by_agent": result.applied_by_agent,
                "status": None if result.status is None else result.status.to_doc(),
            }
        )
        return
    console.print(f"committed {result.commit[:12]}")
    if result.applied_by_agent:
        console.print("an agent watches this environment: it applies the commit")
    elif result.status is not None:
        _print_status(result.status)


def _report_remote(
    workspace: Workspace, change: dict[str, Any], env: str, name: str, json: bool, timeout: float
) -> None:
    """What ``_report`` prints for a change the server committed: when the server applies
    it, wait (up to ``timeout``) for the status its reconcile writes for this commit."""
    commit, applied_by = str(change["commit"]), str(change["applied_by"])
    status = None
    if applied_by == "server":
        status = _await_status(
            workspace, env, name, commit, timeout, None if json else _progress_line
        )
    if json:
        print_json(
            {
                "commit": commit,
                "applied_by_agent": applied_by != "server",
                "applied_by": applied_by,
                "status": None if status is None else status.to_doc(),
            }
        )
        return
    console.print(f"committed {commit[:12]}")
    if applied_by != "server":
        console.print("an agent watches this environment: it applies the commit")
    elif status is not None:
        _print_status(status)
    else:
        console.print(
            f"the server is applying it: see `slipway deployments status {name} --env {env}`"
        )


def _await_status(
    workspace: Workspace,
    env: str,
    name: str,
    commit: str,
    timeout: float,
    on_status: Callable[[DeploymentStatus], None] | None,
) -> DeploymentStatus | None:
    """The status the server's reconcile of ``commit`` wrote, once it settles (not
    Progressing) or ``timeout`` passes; None if none was written for ``commit`` by then."""
    deadline = time.monotonic() + timeout
    while True:
        row = workspace.store.deployments.get(env, name)
        status = (
            None
            if row is None or row.desired_revision != commit
            else DeploymentStatus.from_doc(
                row.name, row.environment, row.desired_revision, row.observed_revision, row.status
            )
        )
        if status is not None:
            if on_status is not None:
                on_status(status)
            progressing = status.condition("Progressing")
            if progressing is None or progressing.status != "True":
                return status
        if time.monotonic() > deadline:
            return status
        time.sleep(0.5)


def rollback(
    name: Annotated[str, typer.Argument(help="Deployment to roll back.")],
    to: Annotated[str | None, typer.Option(help="Restore the file as of this revision.")] = None,
    env: Env = "prod",
    reason: Annotated[str, typer.Option("--reason", "-m", help="Why (in the commit).")] = "",
    apply: Annotated[bool, typer.Option(help="Apply now (--no-apply: only commit).")] = True,
    timeout: Annotated[float, typer.Option(help="Longest wait for the rollout, seconds.")] = 600,
    author: Author = None,
    repo: Repo = None,
    branch: Branch = "main",
    tracking_uri: TrackingUri = None,
    json: Json = False,
) -> None:
    """Revert a deployment's last change (a revert commit), then reconcile."""
    from slipway.gitops.push import rollback as push_rollback

    workspace = open_workspace(tracking_uri)
    session = remote_session(workspace, author=author, repo=repo, branch=_branch(branch))
    if session is not None:
        from slipway.store import remote_ops

        change = remote_ops.rollback(session, env, name, to=to, reason=reason, apply=apply)
        _report_remote(workspace, change, env, name, json, timeout)
        return
    git, home = open_repo(repo, branch)
    result = push_rollback(
        workspace,
        git,
        home,
        name=name,
        environment=env,
        to=to,
        reason=reason,
        author=author or workspace.actor,
        apply_now=apply,
        timeout=timeout,
        on_status=None if json else _progress_line,
    )
    _report(result, json)


def undeploy(
    name: Annotated[str, typer.Argument(help="Deployment to remove.")],
    env: Env = "prod",
    reason: Annotated[str, typer.Option("--reason", "-m", help="Why (in the commit).")] = "",
    apply: Annotated[bool, typer.Option(help="Stop it now (--no-apply: only commit).")] = True,
    author: Author = None,
    repo: Repo = None,
    branch: Branch = "main",
    tracking_uri: TrackingUri = None,
) -> None:
    """Remove a deployment: a commit deleting its file, then its servers stop (drained)."""
    from slipway.gitops.push import undeploy as push_undeploy

    workspace = open_workspace(tracking_uri)
    session = remote_session(workspace, author=author, repo=repo, branch=_branch(branch))
    if session is not None:
        from slipway.store import remote_ops

        change = remote_ops.undeploy(session, env, name, reason=reason, apply=apply)
        console.print(f"committed {str(change['commit'])[:12]}")
        if change["applied_by"] != "server":
            console.print("an agent watches this environment: it stops the deployment")
        else:
            console.print(f"the server is stopping {name}")
        return
    git, home = open_repo(repo, branch)
    result = push_undeploy(
        workspace,
        git,
        home,
        name=name,
        environment=env,
        reason=reason,
        author=author or workspace.actor,
        apply_now=apply,
    )
    console.print(f"committed {result.commit[:12]}")
    if result.applied_by_agent:
        console.print("an agent watches this environment: it stops the deployment")
    else:
        console.print(f"{name} stopped")


def history(
    name: Annotated[str | None, typer.Argument(help="Only this deployment.")] = None,
    env: Env = "prod",
    limit: Annotated[int, typer.Option(min=1)] = 50,
    repo: Repo = None,
    branch: Branch = "main",
    tracking_uri: TrackingUri = None,
    json: Json = False,
) -> None:
    """Production changes from git log: who, when, which version, why."""
    from slipway.gitops.history import HistoryEntry
    from slipway.gitops.history import history as read_history

    session = remote_session(open_workspace(tracking_uri), repo=repo, branch=_branch(branch))
    if session is not None:
        from slipway.store import remote_ops

        docs = remote_ops.history(session, environment=env, deployment=name, limit=limit)
        entries = [HistoryEntry(**{**d, "time": int(d["time"]) // 1000}) for d in docs]
    else:
        git, _ = open_repo(repo, branch)
        entries = read_history(git, environment=env, deployment=name, max_count=limit)
    if json:
        print_json(entries)
        return
    print_table(
        f"history of {env}",
        ["when (UTC)", "commit", "deployment", "action", "model", "strategy", "author", "why"],
        (
            (
                _time(e.time),
                e.sha[:12],
                e.deployment,
                e.action,
                e.model,
                e.strategy,
                e.author,
                e.reason,
            )
            for e in entries
        ),
    )


@app.command("status")
def status(
    name: Annotated[str | None, typer.Argument(help="One deployment; default: all.")] = None,
    env: Env = "prod",
    tracking_uri: TrackingUri = None,
    json: Json = False,
) -> None:
    """Status conditions of the deployments of an environment."""
    workspace = open_workspace(tracking_uri)
    rows = workspace.store.deployments.list(env)
    statuses = [
        DeploymentStatus.from_doc(
            r.name, r.environment, r.desired_revision, r.observed_revision, r.status
        )
        for r in rows
        if name is None or r.name == name
    ]
    if name is not None and not statuses:
        raise InvalidInput(f"no status for deployment {name!r} in {env!r}: has an agent run?")
    if json:
        print_json([{"name": s.name, **s.to_doc()} for s in statuses])
        return
    if name is None:
        print_table(
            f"deployments in {env}",
            ["name", "champion", "challenger", "weight", "ready", "progressing", "degraded"],
            (_row(s) for s in statuses),
        )
        return
    _print_status(statuses[0])


def _row(status: DeploymentStatus) -> tuple[Any, ...]:
    def flag(kind: str) -> str:
        c = status.condition(kind)  # type: ignore[arg-type]
        return "-" if c is None else f"{c.status} ({c.reason})"

    observed = status.observed
    return (
        status.name,
        observed.get("champion"),
        observed.get("challenger"),
        observed.get("weight"),
        flag("Ready"),
        flag("Progressing"),
        flag("Degraded"),
    )


def build(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write.")] = Path(
        "Dockerfile"
    ),
    version: Annotated[
        str | None, typer.Option(help="Slipway version to install in the image.")
    ] = None,
) -> None:
    """Write the Dockerfile of the serving image (``docker build`` it yourself)."""
    from slipway import __version__
    from slipway.deploy.kubernetes import render_dockerfile

    output.write_text(render_dockerfile(version=version or __version__))
    console.print(f"wrote {output}; build it with: docker build -t slipway-serve -f {output} .")
