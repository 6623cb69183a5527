"""The REST API's JSON bodies turned back into domain entities (remote mode).

Field for field the inverse of ``slipway.api.schemas``; JSON has no NaN, so metric values
sent as ``null`` come back as NaN.
"""

from __future__ import annotations

import math
from typing import Any

from slipway.core.entities import (
    AuditEvent,
    Dataset,
    Experiment,
    Metric,
    ModelVersion,
    RegisteredModel,
    Run,
    RunArtifact,
    RunData,
    RunInfo,
    RunInput,
    RunStatus,
)
from slipway.store.deployments import StatusRow


def nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def experiment(d: dict[str, Any]) -> Experiment:
    return Experiment(d["experiment_id"], d["name"], d["created_at"], dict(d["tags"]))


def run_info(d: dict[str, Any]) -> RunInfo:
    return RunInfo(
        run_id=d["run_id"],
        experiment_id=d["experiment_id"],
        run_name=d["run_name"],
        status=RunStatus(d["status"]),
        start_time=d["start_time"],
        end_time=d["end_time"],
        user=d["user"],
    )


def artifact(d: dict[str, Any]) -> RunArtifact:
    return RunArtifact(d["path"], d["digest"], d["size"], d["kind"])


def run(d: dict[str, Any]) -> Run:
    data = RunData({k: nan(v) for k, v in d["metrics"].items()}, dict(d["params"]), dict(d["tags"]))
    inputs = tuple(
        RunInput(
            Dataset(
                i["dataset"]["name"],
                i["dataset"]["digest"],
                i["dataset"]["source"],
                i["dataset"]["num_rows"],
                dict(i["dataset"]["schema"]),
            ),
            i["context"],
        )
        for i in d["inputs"]
    )
    artifacts = tuple(artifact(a) for a in d["artifacts"])
    return Run(run_info(d["info"]), data, inputs, artifacts)


def metric(d: dict[str, Any]) -> Metric:
    value = math.nan if d["is_nan"] or d["value"] is None else float(d["value"])
    return Metric(d["key"], value, d["timestamp"], d["step"])


def model(d: dict[str, Any]) -> RegisteredModel:
    return RegisteredModel(
        name=d["name"],
        created_at=d["created_at"],
        updated_at=d["updated_at"],
        description=d["description"],
        tags=dict(d["tags"]),
        aliases=dict(d["aliases"]),
        latest_version=d["latest_version"],
    )


def version(d: dict[str, Any]) -> ModelVersion:
    return ModelVersion(
        name=d["name"],
        version=d["version"],
        created_at=d["created_at"],
        created_by=d["created_by"],
        source=d["source"],
        manifest_digest=d["manifest_digest"],
        flavor=d["flavor"],
        run_id=d["run_id"],
        description=d["description"],
        signature=d["signature"],
        code_version=d["code_version"],
        code_dirty=d["code_dirty"],
        parent_version=d["parent_version"],
        dataset_digests=tuple(d["dataset_digests"]),
        tags=dict(d["tags"]),
        aliases=tuple(d["aliases"]),
    )


def event(d: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        event_id=d["event_id"],
        time=d["time"],
        actor=d["actor"],
        action=d["action"],
        entity_type=d["entity_type"],
        entity_key=d["entity_key"],
        before=d.get("before"),
        after=d.get("after"),
    )


def status_row(d: dict[str, Any]) -> StatusRow:
    status = {"conditions": d["conditions"], "rollout": d["rollout"], "observed": d["observed"]}
    return StatusRow(
        environment=d["environment"],
        name=d["name"],
        desired_revision=d["desired_revision"],
        observed_revision=d["observed_revision"],
        status=status,
        updated_at=d["updated_at"],
    )
