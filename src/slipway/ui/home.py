"""The dashboard's front page: what is in the workspace, at a glance."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from slipway.ui.errors import DashboardRoute
from slipway.ui.session import Viewer, context
from slipway.ui.templating import render

router = APIRouter(include_in_schema=False, route_class=DashboardRoute)


@router.get("/")
def index(request: Request, principal: Viewer) -> Response:
    store = context(request).workspace.store
    recent = store.runs.search(limit=10)
    models = store.models.list_models()
    rows = store.deployments.list()
    events = store.audit.search(newest_first=True, limit=10)
    return render(
        request,
        "index.html",
        principal,
        recent=recent,
        models=models,
        deployments=rows,
        events=events,
    )
