"""Pipelines in Python: ``@step`` on module-level functions, then ``Pipeline(name, steps)``.

The result is the same :class:`PipelineSpec` a YAML file gives, so checks, cache and runners
do not know the difference. Workers import each step by ``module:function``, so steps must be
module-level functions (not lambdas, not nested functions).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from slipway.core.errors import InvalidInput
from slipway.pipelines.context import StepContext
from slipway.pipelines.spec import PipelineSpec, StepSpec, describe_errors

StepFunction = Callable[[StepContext], object]


class StepDefinition:
    """A function marked with ``@step``; still callable as the plain function."""

    def __init__(
        self,
        function: StepFunction,
        *,
        name: str | None,
        params: Mapping[str, Any],
        inputs: Mapping[str, str],
        outputs: Sequence[str],
    ) -> None:
        self.function = function
        self.name = name or function.__name__
        self.params = dict(params)
        self.inputs = dict(inputs)
        self.outputs = list(outputs)
        self.__doc__ = function.__doc__
        self.__wrapped__ = function

    @property
    def entry(self) -> str:
        qualname = self.function.__qualname__
        if "<locals>" in qualname or "<lambda>" in qualname:
            raise InvalidInput(
                f"step {self.name!r}: {qualname} is not importable by workers; "
                "define step functions at module level"
            )
        return f"{self.function.__module__}:{qualname}"

    def to_spec(self) -> StepSpec:
        doc = {
            "name": self.name,
            "entry": self.entry,
            "params": self.params,
            "inputs": self.inputs,
            "outputs": self.outputs,
        }
        try:
            return StepSpec.model_validate(doc)
        except ValidationError as exc:
            raise InvalidInput(f"step {self.name!r}: {describe_errors(exc, doc)}") from None

    def __call__(self, context: StepContext) -> object:
        return self.function(context)


def step(
    *,
    outputs: Sequence[str] = (),
    inputs: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> Callable[[StepFunction], StepDefinition]:
    """Declare a step::

    @step(outputs=["model"], inputs={"data": "prepare.data"},
          params={"n_estimators": "${params.n_estimators}"})
    def train(ctx: StepContext) -> None: ...
    """

    def decorate(function: StepFunction) -> StepDefinition:
        return StepDefinition(
            function, name=name, params=params or {}, inputs=inputs or {}, outputs=outputs
        )

    return decorate


class Pipeline:
    """A pipeline built in code: ``Pipeline("train", steps=[prepare, train], params={...})``."""

    def __init__(
        self,
        name: str,
        steps: Sequence[StepDefinition | StepSpec],
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.steps = list(steps)
        self.params = dict(params or {})

    def to_spec(self) -> PipelineSpec:
        steps = [s.to_spec() if isinstance(s, StepDefinition) else s for s in self.steps]
        doc = {"name": self.name, "params": self.params, "steps": steps}
        try:
            return PipelineSpec.model_validate(doc)
        except ValidationError as exc:
            raise InvalidInput(f"pipeline {self.name!r}: {describe_errors(exc, doc)}") from None
