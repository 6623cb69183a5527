"""Monitoring (viewer): drift per window, performance with label coverage, alert states, the
HTML report and image drift.

All read the files under ``SLIPWAY_HOME`` the agent and the inference servers write
(prediction logs, labels, alert state), through the same functions as ``slipway monitor``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from slipway.api.deps import Context, Viewer
from slipway.api.errors import ERROR_RESPONSES
from slipway.api.pagination import PageOf, Paging, paginate
from slipway.core.errors import InvalidInput
from slipway.monitoring.alerts import load_state
from slipway.monitoring.drift import ColumnDrift, DatasetDrift, DriftOptions
from slipway.monitoring.images import image_drift_over_time
from slipway.monitoring.monitor import drift_over_time
from slipway.monitoring.performance import compute_performance
from slipway.monitoring.report import build_report
from slipway.monitoring.windows import parse_span

router = APIRouter(prefix="/monitoring", tags=["monitoring"])
Deployment = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}$", description="As in the log.")
]
Window = Annotated[str, Query(pattern=r"^[0-9]{1,6}[smhdw]$", description="e.g. 15m, 1h, 1d.")]
EveryN = Annotated[int | None, Query(ge=1, le=10_000_000, description="Windows of N rows.")]
VersionFilter = Annotated[int | None, Query(ge=1, le=2**31 - 1)]

JSON_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": response["description"],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for status, response in ERROR_RESPONSES.items()
}
"""The error responses of a route whose success is not JSON: errors stay JSON (with a
``response_class`` of HTML, FastAPI would document them as that media type)."""


class WindowDriftOut(BaseModel):
    start: datetime
    end: datetime
    version: int
    rows: int
    features: DatasetDrift
    prediction: ColumnDrift | None


class DriftPage(PageOf):
    items: list[WindowDriftOut]


class WindowPerformanceOut(BaseModel):
    window_start: datetime
    window_end: datetime
    version: int
    predictions: int
    labelled: int
    coverage: float
    metrics: dict[str, float | None]
    estimated: dict[str, float | None]
    reasons: dict[str, str]


class PerformanceOut(PageOf):
    deployment: str
    task: str | None
    prediction: str | None
    score: str | None
    positive_class: str | None
    classes: list[str]
    calibration: str
    reference_calibration_error: float | None
    items: list[WindowPerformanceOut]
    """The windows of this page."""


class ImageWindowOut(BaseModel):
    start: datetime
    end: datetime
    version: int
    images: int
    drifted: bool
    share_drifted: float
    drifted_columns: list[str]
    columns: list[ColumnDrift]
    """Every tested property: image properties first, then ``score`` and ``label``."""
    skipped: dict[str, str]
    """Properties not tested, with the reason (no values on one side)."""
    reference_means: dict[str, float | None]
    current_means: dict[str, float | None]
    reference_labels: dict[str, float]
    current_labels: dict[str, float]


class ImageDriftPage(PageOf):
    deployment: str
    reference_since: datetime | None
    reference_until: datetime
    reference_images: int
    reference_detections: int
    items: list[ImageWindowOut]
    """The windows of this page (after the reference span), oldest first by default."""


class AlertOut(BaseModel):
    rule: str
    status: str
    since: datetime | None
    last_notified: datetime | None
    notifications: int
    value: float | None


class AlertPage(PageOf):
    items: list[AlertOut]


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _span(
    since: datetime | None, until: datetime | None, names: tuple[str, str] = ("since", "until")
) -> None:
    for name, when in zip(names, (since, until), strict=True):
        if when is not None and when.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone, e.g. 2030-01-01T00:00:00Z")


@router.get(
    "/{deployment}/drift",
    response_model=DriftPage,
    summary="Data and prediction drift per window against each version's reference profile",
)
def drift(
    deployment: Deployment,
    principal: Viewer,
    ctx: Context,
    page: Paging,
    window: Window = "1h",
    every_n: EveryN = None,
    version: VersionFilter = None,
    since: datetime | None = None,
    until: datetime | None = None,
    drift_share: Annotated[float, Query(gt=0, le=1)] = 0.5,
) -> DriftPage:
    _span(since, until)
    results = drift_over_time(
        ctx.workspace,
        deployment,
        window=window,
        every_n=every_n,
        version=version,
        since=since,
        until=until,
        options=DriftOptions(drift_share=drift_share),
    )
    indexed = list(enumerate(results))
    items, token = paginate(
        indexed,
        page,
        {"start": lambda x: (x[1].start, x[0]), "version": lambda x: (x[1].version, x[0])},
        "start",
    )
    return DriftPage(
        items=[
            WindowDriftOut(
                start=r.start,
                end=r.end,
                version=r.version,
                rows=r.rows,
                features=r.features,
                prediction=r.prediction,
            )
            for _, r in items
        ],
        next_page_token=token,
    )


@router.get(
    "/{deployment}/performance",
    response_model=PerformanceOut,
    summary="Realised performance where labels joined, CBPE estimates where not yet",
)
def performance(
    deployment: Deployment,
    principal: Viewer,
    ctx: Context,
    page: Paging,
    window: Window = "1h",
    every_n: EveryN = None,
    version: VersionFilter = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> PerformanceOut:
    _span(since, until)
    home = ctx.home
    report = compute_performance(
        home / "logs",
        home / "labels",
        deployment,
        window=window,
        every_n=every_n,
        version=version,
        since=since,
        until=until,
    )
    indexed = list(enumerate(report.windows))
    items, token = paginate(
        indexed,
        page,
        {
            "window_start": lambda x: (x[1].window_start, x[0]),
            "coverage": lambda x: (x[1].coverage, x[0]),
        },
        "window_start",
    )
    return PerformanceOut(
        deployment=report.deployment,
        task=report.task,
        prediction=report.prediction,
        score=report.score,
        positive_class=report.positive_class,
        classes=report.classes,
        calibration=report.calibration,
        reference_calibration_error=_finite(report.reference_calibration_error),
        items=[
            WindowPerformanceOut(
                window_start=w.window_start,
                window_end=w.window_end,
                version=w.version,
                predictions=w.predictions,
                labelled=w.labelled,
                coverage=w.coverage,
                metrics={k: _finite(v) for k, v in w.metrics.items()},
                estimated={k: _finite(v) for k, v in w.estimated.items()},
                reasons=w.reasons,
            )
            for _, w in items
        ],
        next_page_token=token,
    )


@router.get(
    "/{deployment}/report",
    response_class=HTMLResponse,
    responses={
        200: {
            "description": "One HTML document that opens offline (plotly.js inlined).",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        **JSON_ERRORS,
    },
    summary="The monitoring report as one self-contained text/html document "
    "(what `slipway monitor report` writes)",
    description="Distributions, drift and performance over time and the alert state, built "
    "from the server's prediction log, labels and `<home>/alerts/state.json`. One HTML "
    "document that opens offline (plotly.js inlined); a deployment without predictions gets "
    "a report that says so.",
)
def report(
    deployment: Deployment,
    principal: Viewer,
    ctx: Context,
    window: Window = "1h",
    since: datetime | None = None,
    until: datetime | None = None,
    title: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="Heading (default: the deployment's)."),
    ] = None,
) -> HTMLResponse:
    _span(since, until)
    parse_span(window)
    state = ctx.home / "alerts" / "state.json"
    document = build_report(
        ctx.workspace,
        deployment,
        window=window,
        since=since,
        until=until,
        alerts_state=state if state.is_file() else None,
        title=title,
    )
    return HTMLResponse(document)


@router.get(
    "/{deployment}/images",
    response_model=ImageDriftPage,
    summary="Drift of a detector's images and detections against a reference span of its log",
)
def images(
    deployment: Deployment,
    principal: Viewer,
    ctx: Context,
    page: Paging,
    reference_until: Annotated[
        datetime, Query(description="End of the reference span (with a time zone).")
    ],
    reference_since: Annotated[
        datetime | None, Query(description="Start of the reference span (default: the log's).")
    ] = None,
    window: Window = "1h",
    every_n: EveryN = None,
    version: VersionFilter = None,
    since: Annotated[
        datetime | None, Query(description="First window compared (default: reference_until).")
    ] = None,
    until: datetime | None = None,
    drift_share: Annotated[float, Query(gt=0, le=1)] = 0.5,
) -> ImageDriftPage:
    _span(since, until)
    _span(reference_since, reference_until, ("reference_since", "reference_until"))
    if every_n is None:
        parse_span(window)
    found = image_drift_over_time(
        ctx.home / "logs",
        deployment,
        reference_until=reference_until,
        reference_since=reference_since,
        window=window,
        every_n=every_n,
        since=since,
        until=until,
        version=version,
        options=DriftOptions(drift_share=drift_share),
    )
    indexed = list(enumerate(found.windows))
    items, token = paginate(
        indexed,
        page,
        {"start": lambda x: (x[1].start, x[0]), "version": lambda x: (x[1].version, x[0])},
        "start",
    )
    return ImageDriftPage(
        deployment=found.deployment,
        reference_since=found.reference_since,
        reference_until=found.reference_until,
        reference_images=found.reference_images,
        reference_detections=found.reference_detections,
        items=[ImageWindowOut.model_validate(w.as_dict()) for _, w in items],
        next_page_token=token,
    )


@router.get("/alerts", response_model=AlertPage, summary="Where each alert rule stands")
def alerts(
    principal: Viewer,
    ctx: Context,
    page: Paging,
    status: Annotated[str | None, Query(pattern=r"^(inactive|pending|firing)$")] = None,
) -> AlertPage:
    state = load_state(ctx.home / "alerts" / "state.json")
    found = [
        AlertOut(
            rule=name,
            status=s.status.value,
            since=s.since,
            last_notified=s.last_notified,
            notifications=s.notifications,
            value=_finite(s.value),
        )
        for name, s in state.rules.items()
        if status is None or s.status.value == status
    ]
    items, token = paginate(
        found,
        page,
        {
            "rule": lambda a: a.rule,
            "status": lambda a: (a.status, a.rule),
            "since": lambda a: a.since,
        },
        "rule",
    )
    return AlertPage(items=items, next_page_token=token)
