"""Pipelines: declared steps run as a DAG, with a step cache, data validation and gates.

Names are imported on first use (PEP 562): a worker process that only executes a step does
not pay for the coordinator's imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slipway.core.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "LocalRunner": "slipway.pipelines.runner",
    "Pipeline": "slipway.pipelines.decorators",
    "PipelineResult": "slipway.pipelines.execution",
    "PipelineSpec": "slipway.pipelines.spec",
    "RayRunner": "slipway.pipelines.ray_runner",
    "Runner": "slipway.pipelines.runner",
    "StepContext": "slipway.pipelines.context",
    "StepEvent": "slipway.pipelines.execution",
    "StepInvocation": "slipway.pipelines.invocation",
    "StepOutcome": "slipway.pipelines.invocation",
    "StepResult": "slipway.pipelines.execution",
    "StepSpec": "slipway.pipelines.spec",
    "StepStatus": "slipway.pipelines.invocation",
    "check": "slipway.pipelines.execution",
    "load_pipeline": "slipway.pipelines.loading",
    "make_runner": "slipway.pipelines.runner",
    "run_pipeline": "slipway.pipelines.execution",
    "step": "slipway.pipelines.decorators",
}

__all__ = [
    "LocalRunner",
    "Pipeline",
    "PipelineResult",
    "PipelineSpec",
    "RayRunner",
    "Runner",
    "StepContext",
    "StepEvent",
    "StepInvocation",
    "StepOutcome",
    "StepResult",
    "StepSpec",
    "StepStatus",
    "check",
    "load_pipeline",
    "make_runner",
    "run_pipeline",
    "step",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:
    from slipway.pipelines.context import StepContext
    from slipway.pipelines.decorators import Pipeline, step
    from slipway.pipelines.execution import (
        PipelineResult,
        StepEvent,
        StepResult,
        check,
        run_pipeline,
    )
    from slipway.pipelines.invocation import StepInvocation, StepOutcome, StepStatus
    from slipway.pipelines.loading import load_pipeline
    from slipway.pipelines.ray_runner import RayRunner
    from slipway.pipelines.runner import LocalRunner, Runner, make_runner
    from slipway.pipelines.spec import PipelineSpec, StepSpec
