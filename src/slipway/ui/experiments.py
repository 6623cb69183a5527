"""Experiments and runs: lists, one run's details, and runs compared side by side."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from slipway.core.entities import Metric, Run
from slipway.core.errors import NotFound
from slipway.ui import charts
from slipway.ui.errors import DashboardRoute
from slipway.ui.paging import limit_for, page_of
from slipway.ui.session import Viewer, context
from slipway.ui.templating import nonce, render

router = APIRouter(include_in_schema=False, route_class=DashboardRoute)
MAX_COMPARED = 10


@router.get("/experiments")
def experiments(request: Request, principal: Viewer) -> Response:
    store = context(request).workspace.store
    found = store.experiments.search()
    counts = {e.experiment_id: len(store.runs.search(e.experiment_id, limit=1001)) for e in found}
    return render(request, "experiments.html", principal, experiments=found, counts=counts)


@router.get("/experiments/{experiment_id}")
def experiment(request: Request, principal: Viewer, experiment_id: str, page: int = 1) -> Response:
    store = context(request).workspace.store
    exp = store.experiments.get(experiment_id)
    infos = page_of(store.runs.search(exp.experiment_id, limit=limit_for(page)), page)
    runs = [store.runs.get(info.run_id) for info in infos.items]
    metric_keys = sorted({k for r in runs for k in r.data.metrics})[:8]
    return render(
        request,
        "experiment.html",
        principal,
        experiment=exp,
        runs=runs,
        page=infos,
        metric_keys=metric_keys,
    )


@router.get("/runs/{run_id}")
def run(request: Request, principal: Viewer, run_id: str) -> Response:
    ws = context(request).workspace
    found = ws.store.runs.get(run_id)
    exp = ws.store.experiments.get(found.info.experiment_id)
    script_nonce = nonce(request)
    histories = [
        charts.metric_history(key, [("", points)], script_nonce, i)
        for i, key in enumerate(sorted(found.data.metrics))
        if len(points := ws.store.runs.metric_history(run_id, key)) > 1
    ]
    versions = ws.store.models.search_versions(run_id=run_id)
    return render(
        request,
        "run.html",
        principal,
        run=found,
        experiment=exp,
        histories=histories,
        versions=versions,
        charts=bool(histories),
    )


@router.get("/compare")
def compare(
    request: Request,
    principal: Viewer,
    run: Annotated[list[str] | None, Query()] = None,
) -> Response:
    ws = context(request).workspace
    ids = list(dict.fromkeys(run or []))[:MAX_COMPARED]
    runs: list[Run] = []
    missing: list[str] = []
    for run_id in ids:
        try:
            runs.append(ws.store.runs.get(run_id))
        except NotFound:
            missing.append(run_id)
    keys = sorted({k for r in runs for k in r.data.metrics})
    param_keys = sorted({k for r in runs for k in r.data.params})
    script_nonce = nonce(request)
    labels = [_label(r) for r in runs]
    bars = (
        charts.compare_bars(
            [(label, r.data.metrics) for label, r in zip(labels, runs, strict=True)],
            keys,
            script_nonce,
        )
        if runs and keys
        else None
    )
    histories = []
    for i, key in enumerate(keys):
        series: list[tuple[str, list[Metric]]] = [
            (label, ws.store.runs.metric_history(r.info.run_id, key))
            for label, r in zip(labels, runs, strict=True)
        ]
        if any(len(points) > 1 for _, points in series):
            histories.append(charts.metric_history(key, series, script_nonce, i))
    return render(
        request,
        "compare.html",
        principal,
        runs=runs,
        labels=labels,
        metric_keys=keys,
        param_keys=param_keys,
        bars=bars,
        histories=histories,
        missing=missing,
        too_many=len(run or []) > MAX_COMPARED,
        charts=bars is not None,
    )


def _label(found: Run) -> str:
    return f"{found.info.run_name or found.info.run_id[:8]} ({found.info.run_id[:8]})"
