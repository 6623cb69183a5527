"""Model gates: a built-in pipeline step that decides whether a candidate may be challenger.

Declare it in a pipeline as ``entry: slipway.pipelines.gates:gate`` with inputs ``model`` (a
directory written by :func:`save_model_dir`) and ``eval_data`` (Parquet or CSV with the label
column); see docs/gates.md for the params and the report.
"""

from __future__ import annotations

from slipway.pipelines.context import StepContext
from slipway.pipelines.gates.candidate import DESCRIPTOR_FILE, save_model_dir
from slipway.pipelines.gates.config import GateParams, parse_gate_params
from slipway.pipelines.gates.report import CheckResult, GateReport
from slipway.pipelines.gates.step import (
    REPORT_ARTIFACT,
    TAG_PASSED,
    TAG_REPORT,
    TAG_RUN,
    GateFailed,
    gate_step,
)


class _GateStep:
    """The step function; an object only to carry ``slipway_cacheable``."""

    # A gate reads the registry (who is champion now), which its inputs do not capture: an
    # earlier verdict must never be reused from the step cache.
    slipway_cacheable = False

    def __call__(self, ctx: StepContext) -> None:
        gate_step(ctx)


gate = _GateStep()

__all__ = [
    "DESCRIPTOR_FILE",
    "REPORT_ARTIFACT",
    "TAG_PASSED",
    "TAG_REPORT",
    "TAG_RUN",
    "CheckResult",
    "GateFailed",
    "GateParams",
    "GateReport",
    "gate",
    "gate_step",
    "parse_gate_params",
    "save_model_dir",
]
