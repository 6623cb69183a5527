"""The desired state of one deployment: ``deployments/<name>.yaml`` in the GitOps repository.

Versioned like a Kubernetes object (``apiVersion``/``kind``) so the schema can evolve without
breaking files already committed. Every model forbids unknown fields: a typo is an error that
names the file and the field, never a silently ignored setting. Parsing is all-or-nothing: a
file either becomes a :class:`DeploymentFile` or raises :class:`InvalidManifest`, and nothing
is applied from a file that failed.
"""

from __future__ import annotations

import itertools
import re
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from slipway.core.errors import InvalidInput
from slipway.core.names import check_name

API_VERSION = "slipway.dev/v1"
KIND = "Deployment"
DEPLOYMENTS_DIR = "deployments"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class InvalidManifest(InvalidInput):
    """A desired-state file that cannot be applied; names the file, the field and why."""

    def __init__(self, path: str, field: str, reason: str) -> None:
        self.path, self.field, self.reason = path, field, reason
        where = f"{path}: {field}: " if field else f"{path}: "
        super().__init__(where + reason)


def parse_duration(value: object) -> float:
    """Seconds from ``30``, ``30s``, ``500ms``, ``2m`` or ``1h``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s or 2m, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value).strip())
        if match is None:
            raise ValueError(f"expected a duration such as 30s or 2m, got {value!r}")
        seconds = float(match["n"]) * _UNITS[match["unit"]]
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


Duration = Annotated[float, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelPin(_Strict):
    """The exact model version served, pinned to its manifest digest."""

    name: str
    version: int = Field(ge=1)
    digest: str = Field(description="sha256:<hex> of the version's model manifest.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name("model", value)

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not _DIGEST.match(value):
            raise ValueError("must be 'sha256:' followed by 64 lowercase hex digits")
        return value

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def hex_digest(self) -> str:
        return self.digest.removeprefix("sha256:")


class Target(_Strict):
    """Where the deployment runs."""

    kind: Literal["local", "kubernetes"] = "local"
    port: int | None = Field(
        default=None, ge=1, le=65535, description="local: first port; unset: allocated."
    )
    namespace: str = Field(default="default", description="kubernetes: namespace.")
    image: str = Field(
        default="slipway-serve:latest", description="kubernetes: serving image (slipway build)."
    )


class Resources(_Strict):
    cpu: str = Field(default="500m", description="CPU request (Kubernetes quantity).")
    memory: str = Field(default="512Mi", description="Memory request and limit.")
    cpu_limit: str | None = Field(default=None, description="CPU limit; unset: none.")


class Batching(_Strict):
    max_batch_size: int = Field(default=64, ge=1)
    max_latency_ms: float = Field(default=2.0, ge=0)


class Checks(_Strict):
    """Thresholds the challenger must meet at every analysis step."""

    max_error_rate: float | None = Field(default=0.01, ge=0, le=1)
    max_p99_latency_ms: float | None = Field(default=None, gt=0)
    max_prediction_drift: float | None = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Largest distance between the challenger's and the champion's prediction "
        "distributions (Kolmogorov-Smirnov for numbers, total variation for labels).",
    )
    alpha: float = Field(
        default=0.05, gt=0, lt=0.5, description="Error probability of the sequential tests."
    )


class Analysis(_Strict):
    interval: Duration = Field(default=30.0, description="Longest a step waits for evidence.")
    min_samples: int = Field(
        default=50, ge=1, description="Challenger requests a check needs before it decides."
    )
    max_failed_checks: int = Field(default=2, ge=1)
    checks: Checks = Checks()

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: object) -> float:
        return parse_duration(value)


class Canary(_Strict):
    type: Literal["canary"]
    steps: tuple[float, ...] = (0.1, 0.5, 1.0)
    analysis: Analysis = Analysis()
    on_failure: Literal["rollback", "hold"] = "rollback"

    @field_validator("steps")
    @classmethod
    def _steps(cls, steps: tuple[float, ...]) -> tuple[float, ...]:
        if not steps:
            raise ValueError("needs at least one weight")
        if any(not 0 < w <= 1 for w in steps):
            raise ValueError("each weight must be above 0 and at most 1")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError("weights must increase from step to step")
        if steps[-1] != 1.0:
            raise ValueError("the last step must be 1.0 (all traffic) before promotion")
        return steps


class Shadow(_Strict):
    type: Literal["shadow"]
    weight: float = Field(default=1.0, gt=0, le=1, description="Share of requests mirrored.")
    analysis: Analysis = Analysis()
    promote: bool = Field(
        default=False, description="Promote the challenger once the comparison passes."
    )


class BlueGreen(_Strict):
    type: Literal["blue-green"]
    smoke_requests: int = Field(default=3, ge=1, le=100)


class Recreate(_Strict):
    type: Literal["recreate"]


Strategy = Annotated[Canary | Shadow | BlueGreen | Recreate, Field(discriminator="type")]


class Metadata(_Strict):
    name: str
    environment: str = "prod"
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("name", "environment")
    @classmethod
    def _names(cls, value: str) -> str:
        return check_name("deployment", value)


class DeploymentSpec(_Strict):
    model: ModelPin
    target: Target = Target()
    replicas: int = Field(default=1, ge=1, le=64)
    resources: Resources = Resources()
    batching: Batching = Batching()
    strategy: Strategy = Recreate(type="recreate")


class DeploymentFile(_Strict):
    api_version: Literal["slipway.dev/v1"] = Field("slipway.dev/v1", alias="apiVersion")
    kind: Literal["Deployment"] = "Deployment"
    metadata: Metadata
    spec: DeploymentSpec

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def environment(self) -> str:
        return self.metadata.environment

    def to_yaml(self) -> str:
        """Canonical YAML: same content, same bytes (commits show only real changes)."""
        doc = self.model_dump(mode="json", by_alias=True, exclude_defaults=False)
        return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def path_for(name: str) -> str:
    return f"{DEPLOYMENTS_DIR}/{check_name('deployment', name)}.yaml"


def parse_manifest(path: str, text: bytes | str) -> DeploymentFile:
    """Parse one desired-state file; any problem is an :class:`InvalidManifest`."""
    try:
        doc: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidManifest(path, "", f"not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidManifest(path, "", "must be a YAML mapping with apiVersion, kind, spec")
    version = doc.get("apiVersion")
    if version != API_VERSION:
        raise InvalidManifest(
            path, "apiVersion", f"unsupported {version!r}; this Slipway reads {API_VERSION!r}"
        )
    try:
        manifest = DeploymentFile.model_validate(doc)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InvalidManifest(path, field, f"{error['msg']}{more}") from None
    expected = path_for(manifest.name) if path.startswith(DEPLOYMENTS_DIR + "/") else path
    if path != expected:
        raise InvalidManifest(
            path, "metadata.name", f"{manifest.name!r} must live in {expected}, not {path}"
        )
    return manifest
