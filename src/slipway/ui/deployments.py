"""Deployments per environment: Flux-style conditions, traffic split, the production timeline
from ``git log``, and the rollback action for deployers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from slipway.api.deps import Deployer
from slipway.core.errors import SlipwayError
from slipway.gitops.history import HistoryEntry, history
from slipway.gitops.push import rollback as push_rollback
from slipway.gitops.status import DeploymentStatus
from slipway.ui.errors import DashboardRoute
from slipway.ui.session import Viewer, context
from slipway.ui.templating import render

router = APIRouter(include_in_schema=False, route_class=DashboardRoute)
logger = logging.getLogger(__name__)
TIMELINE_LENGTH = 50
APPLY_TIMEOUT_S = 120.0
"""How long a rollback request waits for the restored state to settle before answering."""


@dataclass(frozen=True, slots=True)
class Summary:
    environment: str
    name: str
    status: DeploymentStatus | None
    last_change: HistoryEntry | None


@router.get("/deployments")
def deployments(request: Request, principal: Viewer) -> Response:
    ctx = context(request)
    rows = {
        (r.environment, r.name): _status(
            r.environment, r.name, r.desired_revision, r.observed_revision, r.status
        )
        for r in ctx.workspace.store.deployments.list()
    }
    latest: dict[tuple[str, str], HistoryEntry] = {}
    history_error = None
    try:
        for entry in history(ctx.gitops()):
            latest.setdefault((entry.environment, entry.deployment), entry)
    except SlipwayError as exc:
        history_error = str(exc)
    keys = sorted(set(rows) | {k for k, e in latest.items() if e.model is not None or k in rows})
    by_env: dict[str, list[Summary]] = {}
    for env, name in keys:
        summary = Summary(env, name, rows.get((env, name)), latest.get((env, name)))
        by_env.setdefault(env, []).append(summary)
    return render(
        request,
        "deployments.html",
        principal,
        environments=by_env,
        history_error=history_error,
    )


@router.get("/deployments/{environment}/{name}")
def deployment(request: Request, principal: Viewer, environment: str, name: str) -> Response:
    ctx = context(request)
    row = ctx.workspace.store.deployments.get(environment, name)
    status = (
        None
        if row is None
        else _status(environment, name, row.desired_revision, row.observed_revision, row.status)
    )
    timeline: list[HistoryEntry] = []
    history_error = None
    try:
        timeline = history(
            ctx.gitops(), environment=environment, deployment=name, max_count=TIMELINE_LENGTH
        )
    except SlipwayError as exc:
        history_error = str(exc)
    return render(
        request,
        "deployment.html",
        principal,
        environment=environment,
        name=name,
        status=status,
        traffic=_traffic(status),
        timeline=timeline,
        history_error=history_error,
        can_roll_back=len(timeline) > 1,
    )


class RollbackRequest(BaseModel):
    reason: str = Field(default="", max_length=2000)


actions = APIRouter(include_in_schema=False)
"""JSON endpoints for the dashboard's script: errors in the API's error shape, not pages."""


@actions.post("/deployments/{environment}/{name}/rollback")
def rollback(
    request: Request, principal: Deployer, environment: str, name: str, body: RollbackRequest
) -> Response:
    """Revert the deployment's last change, like ``slipway rollback``: a commit, then apply.

    ``Deployer`` (the API's own dependency) refuses other roles, and a cookie-authenticated
    request without the CSRF header, with 403.
    """
    ctx = context(request)
    result = push_rollback(
        ctx.workspace_as(principal.owner),
        ctx.gitops(),
        ctx.home,
        name=name,
        environment=environment,
        to=None,
        reason=body.reason.strip() or f"rolled back from the dashboard by {principal.owner}",
        author=principal.owner,
        timeout=APPLY_TIMEOUT_S,
    )
    logger.info("rollback of %s/%s by %s: %s", environment, name, principal.owner, result.commit)
    ready = None if result.status is None else result.status.condition("Ready")
    return JSONResponse(
        {
            "commit": result.commit,
            "model": None if result.manifest is None else result.manifest.spec.model.uri,
            "applied_by_agent": result.applied_by_agent,
            "ready": None
            if ready is None
            else {"status": ready.status, "reason": ready.reason, "message": ready.message},
        }
    )


def _status(
    environment: str, name: str, desired: str | None, observed: str | None, doc: dict[str, Any]
) -> DeploymentStatus:
    return DeploymentStatus.from_doc(name, environment, desired, observed, doc)


@dataclass(frozen=True, slots=True)
class Traffic:
    champion: str | None
    challenger: str | None
    challenger_share: float
    mode: str


def _traffic(status: DeploymentStatus | None) -> Traffic | None:
    if status is None or not status.observed:
        return None
    observed = status.observed
    weight = float(observed.get("weight") or 0.0)
    challenger = observed.get("challenger")
    return Traffic(
        observed.get("champion"),
        challenger,
        weight if challenger else 0.0,
        str(observed.get("mode") or ""),
    )
