"""Monitoring of one deployment: the monitoring report's sections (summary, distributions,
drift per feature over time, performance with label coverage, alerts) inside the dashboard.

The sections and their figures come from :mod:`slipway.monitoring.report`, so the dashboard and
the offline HTML report always show the same thing.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from slipway.core.errors import InvalidInput
from slipway.monitoring import report
from slipway.serving.predlog import is_safe_component
from slipway.ui.errors import DashboardRoute
from slipway.ui.session import Viewer, context
from slipway.ui.templating import nonce, render, with_nonce

router = APIRouter(include_in_schema=False, route_class=DashboardRoute)
WINDOWS = ("15m", "1h", "6h", "1d")


@router.get("/monitoring")
def monitoring(request: Request, principal: Viewer) -> Response:
    ctx = context(request)
    logs = ctx.home / "logs"
    found = logs.iterdir() if logs.is_dir() else iter(())
    logged = sorted(p.name for p in found if p.is_dir() and is_safe_component(p.name))
    deployed = sorted({r.name for r in ctx.workspace.store.deployments.list()} - set(logged))
    return render(request, "monitoring.html", principal, logged=logged, deployed=deployed)


@router.get("/monitoring/{deployment}")
def monitor(request: Request, principal: Viewer, deployment: str, window: str = "1h") -> Response:
    if not is_safe_component(deployment):
        raise InvalidInput(f"invalid deployment name {deployment!r}")
    if window not in WINDOWS:  # a tiny window over a long log would cut thousands of them
        raise InvalidInput(f"invalid window {window!r}: choose one of {', '.join(WINDOWS)}")
    ctx = context(request)
    state = ctx.home / "alerts" / "state.json"
    found = report.report_sections(
        ctx.workspace, deployment, window=window, alerts_state=state if state.exists() else None
    )
    script_nonce = nonce(request)
    sections = [
        found.summary,
        found.drift,
        found.performance,
        found.distributions,
        found.alerts,
    ]
    return render(
        request,
        "monitor.html",
        principal,
        deployment=deployment,
        window=window,
        windows=WINDOWS,
        has_data=found.has_data,
        charts=found.has_data,
        spans=found.spans,
        sections=[Markup(with_nonce(s, script_nonce)) for s in sections],  # noqa: S704
    )
