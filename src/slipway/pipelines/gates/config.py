"""What a gate step declares in its ``params``: thresholds, champion tolerance, slices, infra.

Validated by pydantic before any work; :func:`parse_gate_params` turns every problem into one
InvalidInput naming the param, so a typo in a threshold fails the step with a clear message.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from slipway.core.errors import InvalidInput

Task = Literal["classification", "regression"]
Operator = Literal[">=", "<=", ">", "<"]

METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "f1", "roc_auc", "log_loss"),
    "regression": ("mae", "rmse", "r2"),
}
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse"})
PRIMARY = {"classification": "accuracy", "regression": "rmse"}

_THRESHOLD = re.compile(
    r"^\s*(?P<metric>[a-z_0-9]+)\s*(?P<op>>=|<=|>|<)\s*(?P<value>[-+0-9.eE]+)\s*$"
)
_EQUALS = re.compile(r"^\s*(?P<column>.+?)\s*==\s*(?P<value>.+?)\s*$")


class Threshold(BaseModel):
    """``metric op value``; written as a string in YAML: ``roc_auc >= 0.9``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    op: Operator
    value: float

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        match = _THRESHOLD.match(data)
        if not match:
            raise ValueError(f"{data!r} is not of the form '<metric> >= <number>' (or <=, >, <)")
        try:
            value = float(match["value"])
        except ValueError:
            raise ValueError(f"{data!r}: {match['value']!r} is not a number") from None
        return {"metric": match["metric"], "op": match["op"], "value": value}

    def holds(self, value: float) -> bool:
        if self.op == ">=":
            return value >= self.value
        if self.op == "<=":
            return value <= self.value
        if self.op == ">":
            return value > self.value
        return value < self.value

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


class Tolerance(BaseModel):
    """How much worse than the champion a candidate may be: absolute or relative, not both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    absolute: float | None = Field(default=None, ge=0)
    relative: float | None = Field(default=None, ge=0, description="A fraction: 0.02 is 2 %.")

    @model_validator(mode="after")
    def _one_kind(self) -> Tolerance:
        if self.absolute is not None and self.relative is not None:
            raise ValueError("give either absolute or relative, not both")
        return self

    def allowed(self, champion_value: float) -> float:
        if self.relative is not None:
            return self.relative * abs(champion_value)
        return self.absolute or 0.0

    def __str__(self) -> str:
        if self.relative is not None:
            return f"{self.relative:g} relative"
        return f"{self.absolute or 0.0:g}"


class ChampionCheck(BaseModel):
    """No regression against the model holding ``alias`` (metrics: the thresholds' by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    alias: str = "champion"
    metrics: list[str] | None = None
    tolerance: Tolerance = Field(default_factory=Tolerance)


class SliceSpec(BaseModel):
    """A segment of the evaluation data: ``where: "region == north"``, or column + equals/range.

    A range is ``min <= column < max`` (either bound may be left out).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,100}$")
    where: str | None = None
    column: str | None = None
    equals: JsonValue = None
    min: float | None = None
    max: float | None = None
    thresholds: list[Threshold] = Field(default_factory=list)
    min_rows: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _one_condition(self) -> SliceSpec:
        if self.where is not None:
            if self.column is not None:
                raise ValueError("give either 'where' or 'column', not both")
            match = _EQUALS.match(self.where)
            if not match:
                raise ValueError(f"where {self.where!r} is not of the form '<column> == <value>'")
        elif self.column is None:
            raise ValueError("a slice needs 'where' or 'column'")
        elif self.equals is None and self.min is None and self.max is None:
            raise ValueError(f"slice on {self.column!r} needs 'equals', 'min' or 'max'")
        return self

    def condition(self) -> tuple[str, JsonValue, float | None, float | None]:
        """``(column, equals, min, max)``; ``where``'s value is matched as text or number."""
        if self.where is not None:
            match = _EQUALS.match(self.where)
            assert match is not None
            return match["column"].strip("'\""), match["value"].strip("'\""), None, None
        assert self.column is not None
        return self.column, self.equals, self.min, self.max

    def describe(self) -> str:
        column, equals, low, high = self.condition()
        if equals is not None:
            return f"{column} == {equals}"
        parts = [
            f"{low:g} <=" if low is not None else "",
            column,
            f"< {high:g}" if high is not None else "",
        ]
        return " ".join(p for p in parts if p)


class InfraCheck(BaseModel):
    """Serve the candidate in a real ``slipway serve`` process and time sample requests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: int = Field(default=20, ge=1, le=10_000)
    p95_ms: float = Field(gt=0, description="Budget for the 95th percentile latency.")
    startup_timeout_s: float = Field(default=120, gt=0)
    request_timeout_s: float = Field(default=10, gt=0)


class GateParams(BaseModel):
    """The ``params`` of a ``slipway.pipelines.gates:gate`` step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str = Field(description="Registered model the candidate becomes a version of.")
    task: Task
    label: str = Field(description="Label column of the evaluation data.")
    thresholds: list[Threshold] = Field(default_factory=list)
    champion: ChampionCheck = Field(default_factory=ChampionCheck)
    slices: list[SliceSpec] = Field(default_factory=list)
    infra: InfraCheck | None = None
    allow_breaking_signature: bool = False
    candidate: str | None = Field(
        default=None, description="A model URI to gate instead of the step's 'model' input."
    )
    challenger_alias: str = "challenger"
    trusted_types: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_metrics(self) -> GateParams:
        known = METRICS[self.task]
        named = [t.metric for t in self.thresholds]
        named += [t.metric for s in self.slices for t in s.thresholds]
        named += self.champion.metrics or []
        unknown = sorted({m for m in named if m not in known})
        if unknown:
            raise ValueError(
                f"unknown metric(s) {', '.join(unknown)} for {self.task} "
                f"(known: {', '.join(known)})"
            )
        if len({s.name for s in self.slices}) != len(self.slices):
            raise ValueError("slice names repeat")
        return self

    def champion_metrics(self) -> list[str]:
        if self.champion.metrics:
            return list(self.champion.metrics)
        named = list(dict.fromkeys(t.metric for t in self.thresholds))
        return named or [PRIMARY[self.task]]


def parse_gate_params(params: object, step: str) -> GateParams:
    """Validate a gate step's params; one InvalidInput listing every problem."""
    try:
        return GateParams.model_validate(params)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(f"gate step {step!r}: invalid params: {problems}") from None
