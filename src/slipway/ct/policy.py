"""The continuous-training policy: ``ct.yaml``, one per deployment.

```yaml
apiVersion: slipway.dev/v1
kind: ContinuousTraining
deployment: fraud
model: fraud                       # the registered model the pipeline's gate registers
pipeline: {project: ., name: train, data_param: production_data, label: target}
triggers:
  drift: {window: 1h, share_above: 0.5}
  performance: {metric: accuracy, below: 0.85, min_labels: 200, window: 1d}
  schedule: {every: 7d}
  new_labels: {rows: 1000}
cooldown: 6h
max_retrains_per_day: 2
canary: {steps: [0.1, 0.5, 1.0], interval: 30s, min_samples: 50}
notify: [{name: ml-team, url: "https://hooks.example.com/ml", secret_env: ML_HOOK_SECRET}]
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from slipway.core.errors import InvalidInput
from slipway.core.names import check_name
from slipway.deploy.spec import Checks, parse_duration
from slipway.monitoring.alerts import Receiver


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
"""A duration: seconds, or text such as 30s, 15m, 6h."""


class DriftTrigger(_Strict):
    window: Seconds = 3600.0
    share_above: float = Field(0.5, ge=0, le=1)


class PerformanceTrigger(_Strict):
    metric: str = "accuracy"
    below: float | None = None
    above: float | None = Field(None, description="For error metrics such as mae or rmse.")
    min_labels: int = Field(100, ge=1)
    window: Seconds = 86400.0


class ScheduleTrigger(_Strict):
    every: Seconds


class NewLabelsTrigger(_Strict):
    rows: int = Field(ge=1)


class Triggers(_Strict):
    drift: DriftTrigger | None = None
    performance: PerformanceTrigger | None = None
    schedule: ScheduleTrigger | None = None
    new_labels: NewLabelsTrigger | None = None


class PipelineRef(_Strict):
    project: Path = Path(".")
    name: str
    data_param: str | None = Field(
        None,
        description="Pipeline param that receives the path of the labelled production data "
        "(Parquet: the logged features plus the label column); unset: none is passed.",
    )
    label: str = Field("target", description="Label column name in that data.")


class CanarySettings(_Strict):
    steps: tuple[float, ...] = (0.1, 0.5, 1.0)
    interval: Seconds = 30.0
    min_samples: int = Field(50, ge=1)
    checks: Checks = Field(
        Checks(),
        description="The analysis thresholds. A retrain that answers a performance drop is "
        "meant to disagree with the champion: raise or drop (null) max_prediction_drift.",
    )


class CtPolicy(_Strict):
    api_version: str = Field("slipway.dev/v1", alias="apiVersion")
    kind: str = "ContinuousTraining"
    deployment: str
    environment: str = "prod"
    model: str
    pipeline: PipelineRef
    triggers: Triggers
    cooldown: Seconds = 6 * 3600.0
    max_retrains_per_day: int = Field(2, ge=1)
    canary: CanarySettings = CanarySettings()
    pipeline_timeout: Seconds = Field(3600.0, description="Longest a retraining run may take.")
    notify: tuple[Receiver, ...] = Field(
        (), description="Webhooks told when a retrain's gate or pipeline fails."
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("deployment", "model", "environment")
    @classmethod
    def _names(cls, value: str) -> str:
        return check_name("deployment", value)


def parse_policy(path: str, text: str | bytes, base: Path | None = None) -> CtPolicy:
    """Parse ``ct.yaml``; errors name the file, the field and the reason. A relative
    ``pipeline.project`` is resolved against ``base`` (the file's folder)."""
    try:
        doc: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"{path}: must be a mapping with kind: ContinuousTraining")
    if doc.get("apiVersion") != "slipway.dev/v1" or doc.get("kind") != "ContinuousTraining":
        raise InvalidInput(f"{path}: expected apiVersion slipway.dev/v1, kind ContinuousTraining")
    try:
        policy = CtPolicy.model_validate(doc)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])
        raise InvalidInput(f"{path}: {field}: {error['msg']}") from None
    triggers = policy.triggers
    if not any((triggers.drift, triggers.performance, triggers.schedule, triggers.new_labels)):
        raise InvalidInput(f"{path}: triggers: name at least one trigger")
    perf = triggers.performance
    if perf is not None and (perf.below is None) == (perf.above is None):
        raise InvalidInput(f"{path}: triggers.performance: give exactly one of below / above")
    if base is not None and not policy.pipeline.project.is_absolute():
        project = (base / policy.pipeline.project).resolve()
        policy = policy.model_copy(
            update={"pipeline": policy.pipeline.model_copy(update={"project": project})}
        )
    return policy


def load_policy(path: Path) -> CtPolicy:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    return parse_policy(str(path), text, base=path.parent)
