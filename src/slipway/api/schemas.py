"""Response bodies of the tracking, registry and audit endpoints (pydantic, for OpenAPI).

Each mirrors one domain entity and is built from it by ``of``; times are integer
milliseconds since the epoch, as everywhere in Slipway. A remote store client can rebuild the
entities from these bodies field for field.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field

from slipway.api.pagination import PageOf
from slipway.core.entities import (
    Alias,
    AliasChange,
    AuditEvent,
    Dataset,
    Experiment,
    Lineage,
    Metric,
    ModelVersion,
    RegisteredModel,
    Run,
    RunArtifact,
    RunInfo,
)


def finite(value: float) -> float | None:
    """JSON has no NaN or infinity: such metric values travel as null (``is_nan`` says which)."""
    return value if math.isfinite(value) else None


class ExperimentOut(BaseModel):
    experiment_id: str
    name: str
    created_at: int
    tags: dict[str, str]

    @classmethod
    def of(cls, e: Experiment) -> ExperimentOut:
        return cls(experiment_id=e.experiment_id, name=e.name, created_at=e.created_at, tags=e.tags)


class ExperimentPage(PageOf):
    items: list[ExperimentOut]


class RunInfoOut(BaseModel):
    run_id: str
    experiment_id: str
    run_name: str
    status: str
    start_time: int
    end_time: int | None
    user: str

    @classmethod
    def of(cls, info: RunInfo) -> RunInfoOut:
        return cls(
            run_id=info.run_id,
            experiment_id=info.experiment_id,
            run_name=info.run_name,
            status=info.status.value,
            start_time=info.start_time,
            end_time=info.end_time,
            user=info.user,
        )


class RunPage(PageOf):
    items: list[RunInfoOut]


class DatasetOut(BaseModel):
    name: str
    digest: str
    source: str
    num_rows: int | None
    schema_: dict[str, str] = Field(alias="schema")

    model_config = {"populate_by_name": True, "serialize_by_alias": True}

    @classmethod
    def of(cls, d: Dataset) -> DatasetOut:
        doc = {"name": d.name, "digest": d.digest, "source": d.source, "num_rows": d.num_rows}
        return cls.model_validate({**doc, "schema": d.schema})


class RunInputOut(BaseModel):
    dataset: DatasetOut
    context: str


class ArtifactOut(BaseModel):
    path: str
    digest: str
    size: int
    kind: str

    @classmethod
    def of(cls, a: RunArtifact) -> ArtifactOut:
        return cls(path=a.path, digest=a.digest, size=a.size, kind=a.kind)


class ArtifactPage(PageOf):
    items: list[ArtifactOut]


class RunOut(BaseModel):
    info: RunInfoOut
    metrics: dict[str, float | None]
    """Latest value of each metric; null for NaN or infinite values."""
    params: dict[str, str]
    tags: dict[str, str]
    inputs: list[RunInputOut]
    artifacts: list[ArtifactOut]

    @classmethod
    def of(cls, run: Run) -> RunOut:
        return cls(
            info=RunInfoOut.of(run.info),
            metrics={k: finite(v) for k, v in run.data.metrics.items()},
            params=run.data.params,
            tags=run.data.tags,
            inputs=[
                RunInputOut(dataset=DatasetOut.of(i.dataset), context=i.context) for i in run.inputs
            ],
            artifacts=[ArtifactOut.of(a) for a in run.artifacts],
        )


class MetricOut(BaseModel):
    key: str
    value: float | None
    is_nan: bool
    timestamp: int
    step: int

    @classmethod
    def of(cls, m: Metric) -> MetricOut:
        return cls(
            key=m.key,
            value=finite(m.value),
            is_nan=math.isnan(m.value),
            timestamp=m.timestamp,
            step=m.step,
        )


class MetricPage(PageOf):
    items: list[MetricOut]


class ModelOut(BaseModel):
    name: str
    created_at: int
    updated_at: int
    description: str
    tags: dict[str, str]
    aliases: dict[str, int]
    latest_version: int | None

    @classmethod
    def of(cls, m: RegisteredModel) -> ModelOut:
        return cls(
            name=m.name,
            created_at=m.created_at,
            updated_at=m.updated_at,
            description=m.description,
            tags=m.tags,
            aliases=m.aliases,
            latest_version=m.latest_version,
        )


class ModelPage(PageOf):
    items: list[ModelOut]


class VersionOut(BaseModel):
    name: str
    version: int
    uri: str
    created_at: int
    created_by: str
    source: str
    manifest_digest: str
    flavor: str
    run_id: str | None
    description: str
    signature: dict[str, Any] | None
    code_version: str | None
    code_dirty: bool | None
    parent_version: int | None
    dataset_digests: list[str]
    tags: dict[str, str]
    aliases: list[str]

    @classmethod
    def of(cls, v: ModelVersion) -> VersionOut:
        return cls(
            name=v.name,
            version=v.version,
            uri=v.uri,
            created_at=v.created_at,
            created_by=v.created_by,
            source=v.source,
            manifest_digest=v.manifest_digest,
            flavor=v.flavor,
            run_id=v.run_id,
            description=v.description,
            signature=v.signature,
            code_version=v.code_version,
            code_dirty=v.code_dirty,
            parent_version=v.parent_version,
            dataset_digests=list(v.dataset_digests),
            tags=v.tags,
            aliases=list(v.aliases),
        )


class VersionPage(PageOf):
    items: list[VersionOut]


class AliasOut(BaseModel):
    model_name: str
    alias: str
    version: int
    updated_at: int
    updated_by: str

    @classmethod
    def of(cls, a: Alias) -> AliasOut:
        return cls(
            model_name=a.model_name,
            alias=a.alias,
            version=a.version,
            updated_at=a.updated_at,
            updated_by=a.updated_by,
        )


class AliasChangeOut(BaseModel):
    model_name: str
    alias: str
    from_version: int | None
    to_version: int | None
    time: int
    actor: str

    @classmethod
    def of(cls, c: AliasChange) -> AliasChangeOut:
        return cls(
            model_name=c.model_name,
            alias=c.alias,
            from_version=c.from_version,
            to_version=c.to_version,
            time=c.time,
            actor=c.actor,
        )


class AliasChangePage(PageOf):
    items: list[AliasChangeOut]


class AuditEventOut(BaseModel):
    event_id: int
    time: int
    actor: str
    action: str
    entity_type: str
    entity_key: str
    before: Any = None
    after: Any = None

    @classmethod
    def of(cls, e: AuditEvent) -> AuditEventOut:
        return cls(
            event_id=e.event_id,
            time=e.time,
            actor=e.actor,
            action=e.action,
            entity_type=e.entity_type,
            entity_key=e.entity_key,
            before=e.before,
            after=e.after,
        )


class AuditPage(PageOf):
    items: list[AuditEventOut]


class LineageOut(BaseModel):
    version: VersionOut
    run: RunOut | None
    datasets: list[DatasetOut]
    parent: VersionOut | None
    history: list[AuditEventOut]

    @classmethod
    def of(cls, lineage: Lineage) -> LineageOut:
        return cls(
            version=VersionOut.of(lineage.version),
            run=None if lineage.run is None else RunOut.of(lineage.run),
            datasets=[DatasetOut.of(d) for d in lineage.datasets],
            parent=None if lineage.parent is None else VersionOut.of(lineage.parent),
            history=[AuditEventOut.of(e) for e in lineage.history],
        )
