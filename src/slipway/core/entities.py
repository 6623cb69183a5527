"""Domain entities: plain frozen dataclasses that the stores return and the SDK hands out.

Times are integer milliseconds since the Unix epoch, as MLflow users expect.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

JSONValue = Any
"""A value that survives ``json.dumps``; kept loose on purpose for before/after snapshots."""


class RunStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


@dataclass(frozen=True, slots=True)
class Experiment:
    experiment_id: str
    name: str
    created_at: int
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int = 0


@dataclass(frozen=True, slots=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Dataset:
    """A data set a run consumed, identified by the sha256 of its content."""

    name: str
    digest: str
    source: str = ""
    num_rows: int | None = None
    schema: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunInput:
    dataset: Dataset
    context: str = ""


@dataclass(frozen=True, slots=True)
class RunArtifact:
    path: str
    digest: str
    size: int
    kind: str = "file"
    """``file`` for a plain blob, ``model`` for a model manifest."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    user: str


@dataclass(frozen=True, slots=True)
class RunData:
    metrics: dict[str, float] = field(default_factory=dict)
    """Latest value of each metric (highest step, then latest timestamp)."""
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Run:
    info: RunInfo
    data: RunData
    inputs: tuple[RunInput, ...] = ()
    artifacts: tuple[RunArtifact, ...] = ()


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    created_at: int
    updated_at: int
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_version: int | None = None


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: int
    created_at: int
    created_by: str
    source: str
    """Where the model came from, e.g. ``runs:/<run_id>/model``."""
    manifest_digest: str
    """sha256 of the model's manifest blob in the artifact store."""
    flavor: str
    run_id: str | None = None
    description: str = ""
    signature: dict[str, Any] | None = None
    code_version: str | None = None
    code_dirty: bool | None = None
    parent_version: int | None = None
    dataset_digests: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True, slots=True)
class Alias:
    model_name: str
    alias: str
    version: int
    updated_at: int
    updated_by: str


@dataclass(frozen=True, slots=True)
class AliasChange:
    """One entry of an alias's history (derived from the audit log)."""

    model_name: str
    alias: str
    from_version: int | None
    to_version: int | None
    time: int
    actor: str


@dataclass(frozen=True, slots=True)
class AuditEvent:
    event_id: int
    time: int
    actor: str
    action: str
    """Dotted verb, e.g. ``model_version.create``, ``alias.set``."""
    entity_type: str
    entity_key: str
    before: JSONValue = None
    after: JSONValue = None


@dataclass(frozen=True, slots=True)
class Lineage:
    """Everything that produced one model version."""

    version: ModelVersion
    run: Run | None
    datasets: tuple[Dataset, ...]
    parent: ModelVersion | None
    history: tuple[AuditEvent, ...]
