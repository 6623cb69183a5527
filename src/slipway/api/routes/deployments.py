"""Deployments: status (from the store), history (from git log), deploy, rollback and undeploy
(commits), and the labels of a deployment's predictions.

A deploy, rollback or undeploy is what ``slipway deploy`` / ``rollback`` / ``undeploy`` do: a
commit of the desired state, authored by the token's owner. The answer comes right after the
commit. If ``apply`` is set and no agent holds the environment, the server then reconciles the
one deployment in the background (the same reconciler the agent runs), holding the environment's
lock meanwhile; where an agent holds it, the agent applies the commit itself.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from slipway.api.auth import Principal
from slipway.api.context import ServerContext
from slipway.api.deps import Context, DataScientist, Deployer, Viewer, acting_workspace
from slipway.api.pagination import PageOf, Paging, paginate
from slipway.core.errors import Conflict, NotFound
from slipway.deploy.spec import Analysis
from slipway.gitops.agent import Agent, environment_lock
from slipway.gitops.history import history
from slipway.gitops.push import PushResult, apply
from slipway.gitops.push import deploy as push_deploy
from slipway.gitops.push import rollback as push_rollback
from slipway.gitops.push import undeploy as push_undeploy
from slipway.gitops.status import DeploymentStatus
from slipway.monitoring.labels import ingest_labels, labels_from_records
from slipway.store.deployments import StatusRow

router = APIRouter(tags=["deployments"])
logger = logging.getLogger("slipway.api")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}$"
Name = Annotated[str, Path(pattern=NAME_PATTERN, description="Deployment name.")]
Environment = Annotated[str, Path(pattern=NAME_PATTERN)]
APPLY_TIMEOUT = 600.0
MAX_LABELS = 100_000
"""Label records per request."""


class ConditionOut(BaseModel):
    type: str
    status: str
    reason: str
    message: str
    last_transition_time: float


class DeploymentOut(BaseModel):
    name: str
    environment: str
    desired_revision: str | None
    observed_revision: str | None
    conditions: list[ConditionOut]
    rollout: dict[str, Any] | None
    observed: dict[str, Any]
    """champion, challenger, weight, mode, replicas, endpoints… as the target reported."""
    updated_at: int

    @classmethod
    def of(cls, row: StatusRow) -> DeploymentOut:
        status = DeploymentStatus.from_doc(
            row.name, row.environment, row.desired_revision, row.observed_revision, row.status
        )
        doc = status.to_doc()
        return cls(
            name=row.name,
            environment=row.environment,
            desired_revision=row.desired_revision,
            observed_revision=row.observed_revision,
            conditions=[ConditionOut(**c) for c in doc["conditions"]],
            rollout=doc["rollout"],
            observed=doc["observed"],
            updated_at=row.updated_at,
        )


class DeploymentPage(PageOf):
    items: list[DeploymentOut]


class HistoryOut(BaseModel):
    sha: str
    time: int
    """Commit time, ms since the epoch."""
    author: str
    deployment: str
    environment: str
    action: str
    model: str | None
    strategy: str | None
    reason: str


class HistoryPage(PageOf):
    items: list[HistoryOut]


class DeployRequest(BaseModel):
    model_uri: str = Field(
        min_length=1, max_length=600, description="models:/<name>@<alias> or models:/<name>/<v>."
    )
    strategy: Literal["recreate", "canary", "shadow", "blue-green"] | None = None
    steps: list[float] | None = Field(default=None, min_length=1, max_length=20)
    analysis: Analysis | None = Field(
        default=None, description="Rollout analysis of a canary (interval, samples, checks)."
    )
    target: Literal["local", "kubernetes"] | None = None
    replicas: int | None = Field(default=None, ge=1, le=64)
    reason: str = Field(default="", max_length=2000)
    apply: bool = Field(default=True, description="Reconcile now unless an agent holds the env.")


class RollbackRequest(BaseModel):
    to: str | None = Field(
        default=None, max_length=200, description="Restore as of this revision (default: undo)."
    )
    reason: str = Field(default="", max_length=2000)
    apply: bool = True


class ChangeOut(BaseModel):
    commit: str
    applied_by: Literal["server", "agent", "nobody"]
    """server: reconciling in the background now; agent: an agent holds the environment;
    nobody: ``apply`` was false."""


@router.get("/deployments", response_model=DeploymentPage, summary="Deployment statuses")
def list_deployments(
    principal: Viewer,
    ctx: Context,
    page: Paging,
    environment: Annotated[str | None, Query(max_length=255)] = None,
) -> DeploymentPage:
    rows = ctx.workspace.store.deployments.list(environment)
    items, token = paginate(
        rows,
        page,
        {
            "name": lambda r: (r.name, r.environment),
            "environment": lambda r: (r.environment, r.name),
            "updated_at": lambda r: r.updated_at,
        },
        "name",
    )
    return DeploymentPage(items=[DeploymentOut.of(r) for r in items], next_page_token=token)


@router.get(
    "/deployments/history",
    response_model=HistoryPage,
    summary="Production changes from git log, newest first by default",
)
def deployment_history(
    principal: Viewer,
    ctx: Context,
    page: Paging,
    environment: Annotated[str | None, Query(max_length=255)] = None,
    deployment: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    max_count: Annotated[int, Query(ge=1, le=5000, description="Commits read.")] = 500,
) -> HistoryPage:
    repo = ctx.gitops()
    entries = (
        history(repo, environment=environment, deployment=deployment, max_count=max_count)
        if ctx.gitops_head(repo)
        else []
    )
    indexed = [(i, e) for i, e in enumerate(entries) if action is None or e.action == action]
    items, token = paginate(
        indexed,
        page,
        {
            "time": lambda x: (x[1].time, -x[0]),
            "deployment": lambda x: (x[1].deployment, x[0]),
        },
        "time desc",
    )
    return HistoryPage(
        items=[
            HistoryOut(
                sha=e.sha,
                time=e.time * 1000,
                author=e.author,
                deployment=e.deployment,
                environment=e.environment,
                action=e.action,
                model=e.model,
                strategy=e.strategy,
                reason=e.reason,
            )
            for _, e in items
        ],
        next_page_token=token,
    )


@router.get(
    "/deployments/{environment}/{name}",
    response_model=DeploymentOut,
    summary="Status of one deployment",
)
def get_deployment(
    environment: Environment, name: Name, principal: Viewer, ctx: Context
) -> DeploymentOut:
    row = ctx.workspace.store.deployments.get(environment, name)
    if row is None:
        raise NotFound(
            f"no status for deployment {name!r} in {environment!r}: has it been applied?"
        )
    return DeploymentOut.of(row)


@router.post(
    "/deployments/{environment}/{name}/deploy",
    response_model=ChangeOut,
    status_code=201,
    summary="Commit a new desired state (then apply it unless an agent will)",
)
def deploy(
    environment: Environment, name: Name, body: DeployRequest, principal: Deployer, ctx: Context
) -> ChangeOut:
    workspace = acting_workspace(ctx, principal)
    with ctx.git_lock:
        result = push_deploy(
            workspace,
            ctx.gitops(),
            ctx.home,
            name=name,
            model_uri=body.model_uri,
            environment=environment,
            reason=body.reason,
            author=principal.owner,
            strategy=body.strategy,
            steps=None if body.steps is None else tuple(body.steps),
            analysis=body.analysis,
            target=body.target,
            replicas=body.replicas,
            apply_now=False,
        )
    return _apply_after(ctx, principal, result, environment, name, body.apply)


@router.post(
    "/deployments/{environment}/{name}/rollback",
    response_model=ChangeOut,
    status_code=201,
    summary="Revert the deployment's last change (a revert commit), then apply",
)
def rollback(
    environment: Environment,
    name: Name,
    body: RollbackRequest,
    principal: Deployer,
    ctx: Context,
) -> ChangeOut:
    workspace = acting_workspace(ctx, principal)
    with ctx.git_lock:
        result = push_rollback(
            workspace,
            ctx.gitops(),
            ctx.home,
            name=name,
            environment=environment,
            to=body.to,
            reason=body.reason,
            author=principal.owner,
            apply_now=False,
        )
    return _apply_after(ctx, principal, result, environment, name, body.apply)


@router.delete(
    "/deployments/{environment}/{name}",
    response_model=ChangeOut,
    summary="Remove a deployment (a commit deleting its file), then stop its servers",
)
def undeploy(
    environment: Environment,
    name: Name,
    principal: Deployer,
    ctx: Context,
    reason: Annotated[str, Query(max_length=2000)] = "",
    apply: Annotated[bool, Query(description="Stop it now unless an agent holds the env.")] = True,
) -> ChangeOut:
    workspace = acting_workspace(ctx, principal)
    with ctx.git_lock:
        result = push_undeploy(
            workspace,
            ctx.gitops(),
            ctx.home,
            name=name,
            environment=environment,
            reason=reason,
            author=principal.owner,
            apply_now=False,
        )
    return _apply_after(ctx, principal, result, environment, name, apply)


class LabelsIn(BaseModel):
    labels: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_LABELS,
        description="Records: request_id and label (required), row (default 0), label_time "
        "(ISO 8601, default: now), source.",
    )


class IngestOut(BaseModel):
    deployment: str
    received: int
    stored: int
    unchanged: int
    duplicates: int
    out_of_order: int
    unknown: int
    unknown_request_ids: list[str]
    ignored_columns: list[str]
    path: str | None
    """The label file written under the server's home; null when nothing was new."""


@router.post(
    "/deployments/{name}/labels",
    response_model=IngestOut,
    status_code=201,
    tags=["monitoring"],
    summary="Store ground truth for earlier predictions, keyed by request id and row",
)
def ingest(name: Name, body: LabelsIn, principal: DataScientist, ctx: Context) -> IngestOut:
    frame = labels_from_records(body.labels)
    home = ctx.home
    report = ingest_labels(
        home / "labels", name, frame, log_root=home / "logs", source=f"api:{principal.owner}"
    )
    return IngestOut(**report.as_dict())


def _apply_after(
    ctx: ServerContext,
    principal: Principal,
    result: PushResult,
    environment: str,
    name: str,
    wanted: bool,
) -> ChangeOut:
    if not wanted:
        return ChangeOut(commit=result.commit, applied_by="nobody")
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(environment_lock(ctx.home, environment))
    except Conflict:
        return ChangeOut(commit=result.commit, applied_by="agent")
    agent = Agent(
        environment,
        ctx.gitops(),
        acting_workspace(ctx, principal),
        home=ctx.home,
        actor=principal.owner,
    )

    def run() -> None:
        with stack:  # the lock is held until the deployment settles
            try:
                apply(agent, name, timeout=APPLY_TIMEOUT)
            except Exception:
                logger.exception("applying %s in %s failed", name, environment)

    threading.Thread(target=run, name=f"apply-{environment}-{name}", daemon=True).start()
    return ChangeOut(commit=result.commit, applied_by="server")
