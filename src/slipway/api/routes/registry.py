"""Registered models, versions, lineage, gate reports and aliases.

Reading needs a viewer; creating models and registering versions a data scientist; moving or
deleting an alias (what serves production follows ``champion``) a deployer.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from slipway.api.deps import Context, DataScientist, Deployer, Viewer, acting_workspace
from slipway.api.pagination import PageOf, Paging, paginate
from slipway.api.schemas import (
    AliasChangeOut,
    AliasChangePage,
    AliasOut,
    LineageOut,
    ModelOut,
    ModelPage,
    VersionOut,
    VersionPage,
)
from slipway.core.errors import InvalidInput, NotFound
from slipway.gitops.history import history, version_timeline
from slipway.registry import RegistryClient

router = APIRouter(tags=["registry"])
ModelName = Annotated[str, Path(max_length=255, description="Registered model name.")]
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]
AliasName = Annotated[str, Path(max_length=63)]
TagKey = Annotated[str, Path(max_length=250)]
GATE_REPORT_TAG = "slipway.gate_report"  # written by slipway.pipelines.gates


class CreateModel(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    description: str = Field(default="", max_length=10_000)
    tags: dict[str, str] = Field(default_factory=dict)


class RegisterVersion(BaseModel):
    source: str = Field(
        min_length=1, max_length=2000, description="runs:/<run_id>/<artifact path> of a model."
    )
    description: str = Field(default="", max_length=10_000)
    tags: dict[str, str] = Field(default_factory=dict)
    parent_version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class Describe(BaseModel):
    description: str = Field(max_length=10_000)


class SetAlias(BaseModel):
    version: int = Field(ge=1, le=2**31 - 1)


class TagValue(BaseModel):
    value: str = Field(max_length=5000)


class Interval(BaseModel):
    deployment: str
    environment: str
    version: int
    start: int
    end: int | None
    sha: str
    reason: str


class IntervalPage(PageOf):
    items: list[Interval]


def _client(ctx: Context) -> RegistryClient:
    return RegistryClient(ctx.workspace)


@router.get("/models", response_model=ModelPage, summary="List registered models")
def list_models(
    principal: Viewer,
    ctx: Context,
    page: Paging,
    name_contains: Annotated[str | None, Query(max_length=255)] = None,
) -> ModelPage:
    found = [
        m
        for m in _client(ctx).search_registered_models()
        if name_contains is None or name_contains.lower() in m.name.lower()
    ]
    items, token = paginate(
        found,
        page,
        {
            "name": lambda m: m.name,
            "created_at": lambda m: m.created_at,
            "updated_at": lambda m: m.updated_at,
        },
        "name",
    )
    return ModelPage(items=[ModelOut.of(m) for m in items], next_page_token=token)


@router.post("/models", response_model=ModelOut, status_code=201, summary="Create a model")
def create_model(body: CreateModel, principal: DataScientist, ctx: Context) -> ModelOut:
    client = RegistryClient(acting_workspace(ctx, principal))
    created = client.create_registered_model(
        body.name, description=body.description, tags=body.tags
    )
    return ModelOut.of(created)


@router.get("/models/{name}", response_model=ModelOut, summary="One registered model")
def get_model(name: ModelName, principal: Viewer, ctx: Context) -> ModelOut:
    return ModelOut.of(_client(ctx).get_registered_model(name))


@router.patch("/models/{name}", response_model=ModelOut, summary="Update a model's description")
def update_model(
    name: ModelName, body: Describe, principal: DataScientist, ctx: Context
) -> ModelOut:
    client = RegistryClient(acting_workspace(ctx, principal))
    return ModelOut.of(client.update_registered_model(name, body.description))


@router.put(
    "/models/{name}/tags/{key:path}",
    status_code=204,
    response_class=Response,
    summary="Set a model tag",
)
def set_model_tag(
    name: ModelName, key: TagKey, body: TagValue, principal: DataScientist, ctx: Context
) -> None:
    RegistryClient(acting_workspace(ctx, principal)).set_registered_model_tag(name, key, body.value)


@router.delete(
    "/models/{name}/tags/{key:path}",
    status_code=204,
    response_class=Response,
    summary="Delete a model tag",
)
def delete_model_tag(name: ModelName, key: TagKey, principal: DataScientist, ctx: Context) -> None:
    RegistryClient(acting_workspace(ctx, principal)).delete_registered_model_tag(name, key)


@router.get("/models/{name}/versions", response_model=VersionPage, summary="A model's versions")
def list_versions(
    name: ModelName,
    principal: Viewer,
    ctx: Context,
    page: Paging,
    run_id: Annotated[str | None, Query(pattern=r"^[0-9a-f]{32}$")] = None,
    alias: Annotated[str | None, Query(max_length=63)] = None,
    tag: Annotated[
        list[str] | None, Query(max_length=20, description="key=value, exact; repeatable.")
    ] = None,
) -> VersionPage:
    client = _client(ctx)
    client.get_registered_model(name)
    tags = dict(_tag_filter(t) for t in tag or [])
    found = [
        v
        for v in client.search_model_versions(name, run_id=run_id, tags=tags or None)
        if alias is None or alias in v.aliases
    ]
    items, token = paginate(
        found,
        page,
        {"version": lambda v: v.version, "created_at": lambda v: v.created_at},
        "version desc",
    )
    return VersionPage(items=[VersionOut.of(v) for v in items], next_page_token=token)


def _tag_filter(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise InvalidInput(f"tag filter {text!r} must read key=value")
    return key, value


@router.post(
    "/models/{name}/versions",
    response_model=VersionOut,
    status_code=201,
    summary="Register a logged model as the next version",
)
def register_version(
    name: ModelName, body: RegisterVersion, principal: DataScientist, ctx: Context
) -> VersionOut:
    client = RegistryClient(acting_workspace(ctx, principal))
    version = client.register_model(
        body.source,
        name,
        parent_version=body.parent_version,
        description=body.description,
        tags=body.tags,
    )
    return VersionOut.of(version)


@router.get(
    "/models/{name}/versions/{version}", response_model=VersionOut, summary="One model version"
)
def get_version(
    name: ModelName, version: VersionNumber, principal: Viewer, ctx: Context
) -> VersionOut:
    return VersionOut.of(_client(ctx).get_model_version(name, version))


@router.patch(
    "/models/{name}/versions/{version}",
    response_model=VersionOut,
    summary="Update a version's description",
)
def update_version(
    name: ModelName, version: VersionNumber, body: Describe, principal: DataScientist, ctx: Context
) -> VersionOut:
    client = RegistryClient(acting_workspace(ctx, principal))
    client.update_model_version(name, version, body.description)
    return VersionOut.of(client.get_model_version(name, version))


@router.get(
    "/models/{name}/versions/{version}/lineage",
    response_model=LineageOut,
    summary="Run, datasets, code version, parent and history of a version",
)
def get_lineage(
    name: ModelName, version: VersionNumber, principal: Viewer, ctx: Context
) -> LineageOut:
    return LineageOut.of(_client(ctx).get_lineage(name, version))


@router.get(
    "/models/{name}/versions/{version}/gate-report",
    response_model=dict[str, Any],
    summary="The model gate's report stored with the version",
)
def get_gate_report(
    name: ModelName, version: VersionNumber, principal: Viewer, ctx: Context
) -> dict[str, Any]:
    mv = _client(ctx).get_model_version(name, version)
    digest = mv.tags.get(GATE_REPORT_TAG)
    if digest is None:
        raise NotFound(f"{mv.uri} has no gate report (it was not registered by a gate step)")
    report = json.loads(ctx.workspace.artifacts.get_bytes(digest))
    if not isinstance(report, dict):
        raise InvalidInput(f"the gate report of {mv.uri} is not a JSON object")
    return report


@router.put(
    "/models/{name}/versions/{version}/tags/{key:path}",
    status_code=204,
    response_class=Response,
    summary="Set a version tag",
)
def set_version_tag(
    name: ModelName,
    version: VersionNumber,
    key: TagKey,
    body: TagValue,
    principal: DataScientist,
    ctx: Context,
) -> None:
    RegistryClient(acting_workspace(ctx, principal)).set_model_version_tag(
        name, version, key, body.value
    )


@router.delete(
    "/models/{name}/versions/{version}/tags/{key:path}",
    status_code=204,
    response_class=Response,
    summary="Delete a version tag",
)
def delete_version_tag(
    name: ModelName, version: VersionNumber, key: TagKey, principal: DataScientist, ctx: Context
) -> None:
    RegistryClient(acting_workspace(ctx, principal)).delete_model_version_tag(name, version, key)


@router.get(
    "/models/{name}/aliases/{alias}",
    response_model=VersionOut,
    summary="The version an alias points at",
)
def get_alias(name: ModelName, alias: AliasName, principal: Viewer, ctx: Context) -> VersionOut:
    return VersionOut.of(_client(ctx).get_model_version_by_alias(name, alias))


@router.put("/models/{name}/aliases/{alias}", response_model=AliasOut, summary="Move an alias")
def set_alias(
    name: ModelName, alias: AliasName, body: SetAlias, principal: Deployer, ctx: Context
) -> AliasOut:
    client = RegistryClient(acting_workspace(ctx, principal))
    return AliasOut.of(client.set_alias(name, alias, body.version))


@router.delete(
    "/models/{name}/aliases/{alias}",
    status_code=204,
    response_class=Response,
    summary="Delete an alias",
)
def delete_alias(name: ModelName, alias: AliasName, principal: Deployer, ctx: Context) -> None:
    RegistryClient(acting_workspace(ctx, principal)).delete_alias(name, alias)


@router.get(
    "/models/{name}/aliases/{alias}/history",
    response_model=AliasChangePage,
    summary="Every move of an alias",
)
def alias_history(
    name: ModelName, alias: AliasName, principal: Viewer, ctx: Context, page: Paging
) -> AliasChangePage:
    client = _client(ctx)
    client.get_registered_model(name)
    changes = list(enumerate(client.get_alias_history(name, alias)))
    items, token = paginate(changes, page, {"time": lambda c: (c[1].time, c[0])}, "time")
    return AliasChangePage(items=[AliasChangeOut.of(c) for _, c in items], next_page_token=token)


@router.get(
    "/models/{name}/timeline",
    response_model=IntervalPage,
    summary="When each version served production (from the GitOps history)",
)
def timeline(
    name: ModelName,
    principal: Viewer,
    ctx: Context,
    page: Paging,
    environment: Annotated[str | None, Query(max_length=255)] = None,
) -> IntervalPage:
    _client(ctx).get_registered_model(name)
    repo = ctx.gitops()
    entries = history(repo, environment=environment) if ctx.gitops_head(repo) else []
    intervals = list(enumerate(version_timeline(entries, name)))
    items, token = paginate(
        intervals,
        page,
        {"start": lambda i: (i[1].start, i[0]), "version": lambda i: (i[1].version, i[0])},
        "start",
    )
    return IntervalPage(
        items=[
            Interval(
                deployment=i.deployment,
                environment=i.environment,
                version=i.version,
                start=i.start,
                end=i.end,
                sha=i.sha,
                reason=i.reason,
            )
            for _, i in items
        ],
        next_page_token=token,
    )
