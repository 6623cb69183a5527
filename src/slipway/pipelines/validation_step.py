"""The built-in data validation step.

Declare it like any step::

    - name: validate
      entry: slipway.pipelines.validation_step:validate_data
      inputs: {data: prepare.eval, reference: prepare.train}   # or expectations: ./expect.json
      params: {row_count_tolerance: null, max_outside_fraction: 0.02}
      outputs: [expectations, report]

Inputs: ``data`` (Parquet or CSV) and either ``expectations`` (a JSON file, typically tuned by
hand and kept in the repository) or ``reference`` (Parquet or CSV to infer them from). Params
(all optional): the options of :func:`infer_expectations` (``missing_tolerance``,
``range_margin``, ``quantiles``, ``quantile_tolerance``, ``max_categories``,
``row_count_tolerance``, ``severities``) and ``max_outside_fraction``, applied to every
inferred range rule. Outputs, when declared: ``expectations`` and ``report`` (JSON). The
report's table goes to the step's log; a broken ``error`` rule fails the step (and the
pipeline) with :class:`ValidationFailed`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from slipway.core.errors import InvalidInput
from slipway.pipelines.context import StepContext
from slipway.pipelines.validation import (
    Expectations,
    infer_expectations,
    render,
    validate,
)

_INFER_OPTIONS = frozenset(
    {
        "missing_tolerance",
        "range_margin",
        "quantiles",
        "quantile_tolerance",
        "max_categories",
        "row_count_tolerance",
        "severities",
    }
)
_PARAMS = _INFER_OPTIONS | {"max_outside_fraction", "name"}


def read_table(path: Path, what: str) -> pd.DataFrame:
    """A Parquet or CSV file (by suffix; Parquet when there is none) as a DataFrame."""
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"{what} ({path.name}) is not a readable Parquet or CSV file: {exc}"
        ) from None


def validate_data(ctx: StepContext) -> None:
    """Validate input ``data`` against stored or inferred expectations (see module doc)."""
    unknown = sorted(set(ctx.params) - _PARAMS)
    if unknown:
        raise InvalidInput(
            f"step {ctx.step!r}: unknown param {unknown[0]!r}; expected some of "
            f"{', '.join(sorted(_PARAMS))}"
        )
    has_expectations, has_reference = "expectations" in ctx.inputs, "reference" in ctx.inputs
    if has_expectations == has_reference:
        raise InvalidInput(
            f"step {ctx.step!r} needs exactly one of the inputs 'expectations' (a JSON file) "
            "and 'reference' (data to infer them from)"
        )
    data = read_table(ctx.input("data"), "input 'data'")
    if has_expectations:
        expectations = Expectations.from_json(ctx.input("expectations").read_text())
    else:
        options: dict[str, Any] = {k: v for k, v in ctx.params.items() if k in _INFER_OPTIONS}
        name = ctx.params.get("name")
        reference = read_table(ctx.input("reference"), "input 'reference'")
        expectations = infer_expectations(
            reference, name=None if name is None else str(name), **options
        )
        outside = ctx.params.get("max_outside_fraction")
        if outside is not None:
            for column in expectations.columns.values():
                if column.range is not None:
                    column.range.max_outside_fraction = float(outside)  # type: ignore[arg-type]
    report = validate(data, expectations)
    if "expectations" in ctx.output_names:
        ctx.output("expectations").write_text(expectations.to_json())
    if "report" in ctx.output_names:
        ctx.output("report").write_text(report.to_json())
    ctx.log_metrics(
        {"validation_errors": len(report.errors), "validation_checks": len(report.checks)}
    )
    Console(width=120, force_terminal=False).print(render(report, show_passed=False))
    print(report.summary())
    report.raise_for_errors()
