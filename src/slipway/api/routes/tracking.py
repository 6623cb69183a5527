"""Experiments and runs: create (data-scientist), log batches, end; search and read (viewer)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from slipway.api.deps import Context, DataScientist, Viewer, acting_workspace
from slipway.api.pagination import MAX_SCAN, Paging, paginate
from slipway.api.schemas import (
    ExperimentOut,
    ExperimentPage,
    MetricOut,
    MetricPage,
    RunInfoOut,
    RunOut,
    RunPage,
)
from slipway.core.entities import Dataset, Metric, Param, RunInput, RunStatus
from slipway.tracking.client import TrackingClient

router = APIRouter(tags=["tracking"])
RunId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="32 hex characters.")]
ExperimentId = Annotated[str, Path(pattern=r"^[0-9]{1,18}$")]
MAX_BATCH = 10_000


class CreateExperiment(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    tags: dict[str, str] = Field(default_factory=dict)


class TagValue(BaseModel):
    value: str = Field(max_length=5000)


class CreateRun(BaseModel):
    experiment_id: str = Field(pattern=r"^[0-9]{1,18}$")
    run_name: str | None = Field(default=None, min_length=1, max_length=255)
    tags: dict[str, str] = Field(default_factory=dict)


class MetricIn(BaseModel):
    key: str = Field(min_length=1, max_length=250)
    value: float | None = Field(description="null stands for NaN.")
    timestamp: int | None = Field(default=None, ge=0, description="ms; default: now.")
    step: int = Field(default=0, ge=-(2**62), le=2**62)


class ParamIn(BaseModel):
    key: str = Field(min_length=1, max_length=250)
    value: str = Field(max_length=8000)


class LogBatch(BaseModel):
    metrics: list[MetricIn] = Field(default_factory=list, max_length=MAX_BATCH)
    params: list[ParamIn] = Field(default_factory=list, max_length=MAX_BATCH)
    tags: dict[str, str] = Field(default_factory=dict)


class EndRun(BaseModel):
    status: RunStatus = RunStatus.FINISHED


class DatasetIn(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the content.")
    source: str = Field(default="", max_length=4000)
    num_rows: int | None = Field(default=None, ge=0)
    schema_: dict[str, str] = Field(default_factory=dict, alias="schema")


class LogInputs(BaseModel):
    datasets: list[DatasetIn] = Field(min_length=1, max_length=100)
    context: str = Field(default="training", max_length=64)


# -- experiments ----------------------------------------------------------------------------


@router.get("/experiments", response_model=ExperimentPage, summary="List experiments")
def list_experiments(
    principal: Viewer,
    ctx: Context,
    page: Paging,
    name_contains: Annotated[str | None, Query(max_length=255)] = None,
) -> ExperimentPage:
    found = [
        e
        for e in ctx.workspace.store.experiments.search()
        if name_contains is None or name_contains.lower() in e.name.lower()
    ]
    items, token = paginate(
        found,
        page,
        {
            "experiment_id": lambda e: int(e.experiment_id),
            "name": lambda e: e.name,
            "created_at": lambda e: e.created_at,
        },
        "experiment_id",
    )
    return ExperimentPage(items=[ExperimentOut.of(e) for e in items], next_page_token=token)


@router.post(
    "/experiments", response_model=ExperimentOut, status_code=201, summary="Create an experiment"
)
def create_experiment(
    body: CreateExperiment, principal: DataScientist, ctx: Context
) -> ExperimentOut:
    client = TrackingClient(acting_workspace(ctx, principal))
    return ExperimentOut.of(client.create_experiment(body.name, body.tags))


@router.get("/experiments/{experiment_id}", response_model=ExperimentOut, summary="One experiment")
def get_experiment(experiment_id: ExperimentId, principal: Viewer, ctx: Context) -> ExperimentOut:
    return ExperimentOut.of(ctx.workspace.store.experiments.get(experiment_id))


@router.get(
    "/experiments/by-name/{name}", response_model=ExperimentOut, summary="Experiment by name"
)
def get_experiment_by_name(
    name: Annotated[str, Path(max_length=255)], principal: Viewer, ctx: Context
) -> ExperimentOut:
    return ExperimentOut.of(ctx.workspace.store.experiments.get_by_name(name))


@router.put(
    "/experiments/{experiment_id}/tags/{key:path}",
    status_code=204,
    response_class=Response,
    summary="Set an experiment tag",
)
def set_experiment_tag(
    experiment_id: ExperimentId,
    key: Annotated[str, Path(max_length=250)],
    body: TagValue,
    principal: DataScientist,
    ctx: Context,
) -> None:
    acting_workspace(ctx, principal).store.experiments.set_tag(experiment_id, key, body.value)


# -- runs -----------------------------------------------------------------------------------


@router.post("/runs", response_model=RunInfoOut, status_code=201, summary="Start a run")
def create_run(body: CreateRun, principal: DataScientist, ctx: Context) -> RunInfoOut:
    client = TrackingClient(acting_workspace(ctx, principal))
    info = client.create_run(body.experiment_id, run_name=body.run_name, tags=body.tags)
    return RunInfoOut.of(info)


@router.get("/runs", response_model=RunPage, summary="Search runs")
def search_runs(
    principal: Viewer,
    ctx: Context,
    page: Paging,
    experiment_id: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
    status: RunStatus | None = None,
    user: Annotated[str | None, Query(max_length=255)] = None,
    name_contains: Annotated[str | None, Query(max_length=255)] = None,
) -> RunPage:
    runs = [
        r
        for r in ctx.workspace.store.runs.search(experiment_id, status=status, limit=MAX_SCAN)
        if (user is None or r.user == user)
        and (name_contains is None or name_contains.lower() in r.run_name.lower())
    ]
    items, token = paginate(
        runs,
        page,
        {
            "start_time": lambda r: r.start_time,
            "end_time": lambda r: r.end_time,
            "run_name": lambda r: r.run_name,
            "status": lambda r: r.status.value,
            "user": lambda r: r.user,
        },
        "start_time desc",
    )
    return RunPage(items=[RunInfoOut.of(r) for r in items], next_page_token=token)


@router.get("/runs/{run_id}", response_model=RunOut, summary="One run with its data")
def get_run(run_id: RunId, principal: Viewer, ctx: Context) -> RunOut:
    return RunOut.of(ctx.workspace.store.runs.get(run_id))


@router.post(
    "/runs/{run_id}/log-batch",
    status_code=204,
    response_class=Response,
    summary="Log metrics, params and tags in one transaction",
)
def log_batch(run_id: RunId, body: LogBatch, principal: DataScientist, ctx: Context) -> None:
    now = int(time.time() * 1000)
    metrics = [
        Metric(
            m.key,
            float("nan") if m.value is None else m.value,
            now if m.timestamp is None else m.timestamp,
            m.step,
        )
        for m in body.metrics
    ]
    params = [Param(p.key, p.value) for p in body.params]
    store = acting_workspace(ctx, principal).store
    store.runs.log_batch(run_id, metrics, params, body.tags)


@router.post(
    "/runs/{run_id}/inputs",
    status_code=204,
    response_class=Response,
    summary="Record datasets the run consumed (by content hash)",
)
def log_inputs(run_id: RunId, body: LogInputs, principal: DataScientist, ctx: Context) -> None:
    inputs = [
        RunInput(Dataset(d.name, d.digest, d.source, d.num_rows, d.schema_), body.context)
        for d in body.datasets
    ]
    acting_workspace(ctx, principal).store.runs.log_inputs(run_id, inputs)


@router.post("/runs/{run_id}/end", response_model=RunInfoOut, summary="End a run")
def end_run(run_id: RunId, body: EndRun, principal: DataScientist, ctx: Context) -> RunInfoOut:
    client = TrackingClient(acting_workspace(ctx, principal))
    return RunInfoOut.of(client.set_terminated(run_id, body.status))


@router.get(
    "/runs/{run_id}/metric-history",
    response_model=MetricPage,
    summary="Every logged value of one metric",
)
def metric_history(
    run_id: RunId,
    key: Annotated[str, Query(min_length=1, max_length=250, description="Metric key.")],
    principal: Viewer,
    ctx: Context,
    page: Paging,
) -> MetricPage:
    history = ctx.workspace.store.runs.metric_history(run_id, key)
    indexed = list(enumerate(history))
    items, token = paginate(
        indexed,
        page,
        {
            "step": lambda m: (m[1].step, m[0]),
            "timestamp": lambda m: (m[1].timestamp, m[0]),
        },
        "step",
    )
    return MetricPage(items=[MetricOut.of(m) for _, m in items], next_page_token=token)
